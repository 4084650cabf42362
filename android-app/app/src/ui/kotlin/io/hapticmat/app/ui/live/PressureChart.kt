package io.hapticmat.app.ui.live

import androidx.compose.foundation.Canvas
import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.shape.CircleShape
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Path
import androidx.compose.ui.graphics.StrokeJoin
import androidx.compose.ui.graphics.drawscope.Stroke
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import io.hapticmat.app.domain.PressureFrame
import io.hapticmat.app.live.PressureHistory
import io.hapticmat.app.ui.theme.BladderColors
import java.util.Locale

/**
 * The four bladder pressures of [history] as lines over time, oldest left, on a shared y axis in kPa
 * (the range's ends are labelled), with a legend. Drawn with a Canvas: no chart library.
 */
@Composable
fun PressureChart(history: PressureHistory, modifier: Modifier = Modifier) {
    val range = history.range()
    val gridColor = MaterialTheme.colorScheme.outlineVariant
    Column(modifier, verticalArrangement = Arrangement.spacedBy(4.dp)) {
        // The range's ends are labelled outside the plot so the text never covers a line.
        AxisLabel(range?.endInclusive)
        Box(
            Modifier
                .fillMaxWidth()
                .height(180.dp)
                .semantics { contentDescription = "Pressure of the four bladders over the last seconds" },
        ) {
            Canvas(Modifier.fillMaxSize()) {
                for (i in 0..4) {
                    val y = size.height * i / 4
                    drawLine(gridColor, Offset(0f, y), Offset(size.width, y), strokeWidth = 1f)
                }
                if (range == null || history.frames.size < 2) return@Canvas
                val frames = history.frames
                val t0 = frames.first().timestampMillis
                val span = (frames.last().timestampMillis - t0).coerceAtLeast(1)
                val height = (range.endInclusive - range.start).coerceAtLeast(1f)
                for (bladder in 0 until PressureFrame.BLADDERS) {
                    val path = Path()
                    frames.forEachIndexed { index, frame ->
                        val x = size.width * (frame.timestampMillis - t0) / span
                        val y = size.height * (1f - (frame.pascals[bladder] - range.start) / height)
                        if (index == 0) path.moveTo(x, y) else path.lineTo(x, y)
                    }
                    drawPath(path, BladderColors[bladder], style = Stroke(width = 2.dp.toPx(), join = StrokeJoin.Round))
                }
            }
            if (range == null) {
                Text(
                    "No frames yet",
                    Modifier.align(Alignment.Center),
                    style = MaterialTheme.typography.bodyMedium,
                    color = MaterialTheme.colorScheme.onSurfaceVariant,
                )
            }
        }
        AxisLabel(range?.start)
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp), verticalAlignment = Alignment.CenterVertically) {
            Text("Bladder", style = MaterialTheme.typography.labelMedium)
            BladderColors.forEachIndexed { i, color ->
                Row(verticalAlignment = Alignment.CenterVertically) {
                    Box(Modifier.size(10.dp).background(color, CircleShape))
                    Text(" ${i + 1}", style = MaterialTheme.typography.labelMedium)
                }
            }
        }
    }
}

@Composable
private fun AxisLabel(pascal: Float?, modifier: Modifier = Modifier) {
    Text(
        pascal?.let { String.format(Locale.ROOT, "%.2f kPa", it / 1000f) } ?: "",
        modifier = modifier,
        style = MaterialTheme.typography.labelSmall,
        color = MaterialTheme.colorScheme.onSurfaceVariant,
    )
}
