package io.hapticmat.app.ui.live

import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.shape.CircleShape
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import io.hapticmat.app.live.ConnectionDisplay
import io.hapticmat.app.live.LiveUiState
import io.hapticmat.app.live.PersonalCalibrationDisplay
import io.hapticmat.app.live.PresenceDisplay
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.ui.component.NoticeCard
import io.hapticmat.app.ui.component.Section
import io.hapticmat.app.ui.theme.color

/**
 * The Live screen: who is on the mat, in large type, the link to the mat, the live pressure chart, and
 * "Calibrate me" ([onCalibrateMe]).
 */
@Composable
fun LiveScreen(
    uiState: LiveUiState,
    onNoticeAction: (NoticeAction) -> Unit,
    modifier: Modifier = Modifier,
    onCalibrateMe: () -> Unit = {},
) {
    when (uiState) {
        LiveUiState.Loading -> Box(modifier.fillMaxSize(), contentAlignment = Alignment.Center) {
            CircularProgressIndicator()
        }
        is LiveUiState.Blocked -> CenteredNotice(modifier) { NoticeCard(uiState.notice, onNoticeAction) }
        is LiveUiState.Ended -> CenteredNotice(modifier) { NoticeCard(uiState.notice, onNoticeAction) }
        is LiveUiState.Live -> Column(
            modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(16.dp),
        ) {
            ConnectionLine(uiState.connection)
            PresencePanel(uiState.presence)
            // A measurement in progress or its failure goes where the person sees it without scrolling.
            val personalFirst = uiState.personal.progress != null || uiState.personal.notice != null
            if (personalFirst) PersonalCalibrationSection(uiState.personal, onCalibrateMe, onNoticeAction)
            Text("Bladder pressure", style = MaterialTheme.typography.titleMedium)
            PressureChart(uiState.history)
            Text(
                uiState.absenceRule,
                style = MaterialTheme.typography.bodySmall,
                color = MaterialTheme.colorScheme.onSurfaceVariant,
            )
            if (!personalFirst) PersonalCalibrationSection(uiState.personal, onCalibrateMe, onNoticeAction)
        }
    }
}

@Composable
private fun PersonalCalibrationSection(
    personal: PersonalCalibrationDisplay,
    onCalibrateMe: () -> Unit,
    onNoticeAction: (NoticeAction) -> Unit,
) {
    Section("Personal calibration") {
        Text(personal.status, style = MaterialTheme.typography.bodyLarge)
        personal.progress?.let { LinearProgressIndicator(progress = { it }, modifier = Modifier.fillMaxWidth()) }
        personal.notice?.let { NoticeCard(it, onNoticeAction) }
        Text(
            PersonalCalibrationDisplay.HINT,
            style = MaterialTheme.typography.bodySmall,
            color = MaterialTheme.colorScheme.onSurfaceVariant,
        )
        Button(onClick = onCalibrateMe, enabled = personal.canCalibrate) { Text(PersonalCalibrationDisplay.ACTION) }
    }
}

@Composable
private fun CenteredNotice(modifier: Modifier, content: @Composable () -> Unit) {
    Box(modifier.fillMaxSize().padding(24.dp), contentAlignment = Alignment.Center) { content() }
}

@Composable
private fun ConnectionLine(connection: ConnectionDisplay, modifier: Modifier = Modifier) {
    Row(modifier, verticalAlignment = Alignment.CenterVertically) {
        Box(Modifier.size(12.dp).background(connection.tone.color(), CircleShape))
        Spacer(Modifier.width(8.dp))
        Text(connection.text, style = MaterialTheme.typography.bodyLarge, color = connection.tone.color())
    }
}

@Composable
private fun PresencePanel(presence: PresenceDisplay, modifier: Modifier = Modifier) {
    // A stale value stays readable but faded: it is the last thing the mat said, not what it says now.
    val emphasis = if (presence.isStale) 0.45f else 1f
    val onSurface = MaterialTheme.colorScheme.onSurface
    Column(
        modifier.fillMaxWidth().padding(vertical = 24.dp).semantics { liveRegion = LiveRegionMode.Polite },
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.spacedBy(4.dp),
    ) {
        Text(
            presence.headline,
            modifier = Modifier.semantics { heading() },
            fontSize = 56.sp,
            lineHeight = 64.sp,
            fontWeight = FontWeight.SemiBold,
            color = onSurface.copy(alpha = emphasis),
        )
        presence.postureNote?.let {
            Text(it, style = MaterialTheme.typography.titleLarge, color = onSurface.copy(alpha = emphasis))
        }
        presence.confidence?.let {
            Text(it, style = MaterialTheme.typography.headlineSmall, color = onSurface.copy(alpha = emphasis))
        }
        presence.postureConfidence?.let {
            Text(it, style = MaterialTheme.typography.bodyLarge, color = onSurface.copy(alpha = emphasis))
        }
        presence.updatedAt?.let {
            val note = if (presence.isStale) "Last seen at $it" else "Updated $it"
            Text(note, style = MaterialTheme.typography.bodyMedium, color = MaterialTheme.colorScheme.onSurfaceVariant)
        }
    }
}
