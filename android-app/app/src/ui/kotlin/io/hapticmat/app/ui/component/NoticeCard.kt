package io.hapticmat.app.ui.component

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import io.hapticmat.app.notice.Notice
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.notice.Tone

/** A notice as a card: title, explanation, and its action's button when it has one. */
@Composable
fun NoticeCard(notice: Notice, onAction: (NoticeAction) -> Unit, modifier: Modifier = Modifier) {
    val scheme = MaterialTheme.colorScheme
    val colors = if (notice.tone == Tone.Problem) {
        CardDefaults.cardColors(containerColor = scheme.errorContainer, contentColor = scheme.onErrorContainer)
    } else {
        CardDefaults.cardColors(containerColor = scheme.surfaceVariant, contentColor = scheme.onSurfaceVariant)
    }
    Card(modifier = modifier.fillMaxWidth(), colors = colors) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            Text(notice.title, style = MaterialTheme.typography.titleMedium)
            Text(notice.detail, style = MaterialTheme.typography.bodyMedium)
            notice.action?.let { action ->
                Button(onClick = { onAction(action) }) { Text(action.label) }
            }
        }
    }
}
