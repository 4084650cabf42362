package io.hapticmat.app.ui

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PressureFrame
import io.hapticmat.app.live.LiveConditions
import io.hapticmat.app.live.LiveUiState
import io.hapticmat.app.live.PressureHistory
import io.hapticmat.app.live.liveUiState
import io.hapticmat.app.session.SessionStatus
import java.io.File
import java.time.LocalDateTime
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter
import kotlin.time.Duration.Companion.minutes

/**
 * The Live screen as the app shows it for a real recording of the mat: the chart draws the recording's
 * own pressures (data/seroton-mat, the makers' public data) and the presence line is what the real core
 * decided for the same frames (`pipeline monitor --json` over the replay, which scripts/test-app.sh runs
 * with a real model), mapped by the app's own [liveUiState].
 */
object RealRecordingScreen {
    private val timestamp = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS")

    /** The recording's frames in the makers' CSV format (`Timestamp,Float1,…,Float4`), as the app gets them. */
    fun frames(csv: File): List<PressureFrame> = csv.readLines().drop(1).filter { it.isNotBlank() }.map { line ->
        val cells = line.split(',')
        val at = LocalDateTime.parse(cells[0], timestamp).toInstant(ZoneOffset.UTC).toEpochMilli()
        PressureFrame(at, cells.drop(1).take(PressureFrame.BLADDERS).map(String::toFloat))
    }

    /** The last decided line of the core's JSON output: state, confidence and posture confidence. */
    private fun lastDecision(states: File): Triple<PresenceLabel, Float, Float?> {
        val line = states.readLines().last { "\"state\":\"unknown\"" !in it && it.isNotBlank() }
        fun field(name: String): String? =
            Regex("\"$name\":(\"[a-z_]+\"|[0-9.]+|null)").find(line)?.groupValues?.get(1)?.trim('"')
        val label = PresenceLabel.fromWireName(field("state")!!) ?: error("unknown state in $line")
        return Triple(label, field("confidence")!!.toFloat(), field("posture_confidence")?.takeIf { it != "null" }?.toFloat())
    }

    /** The screen for [csv]'s last 30 s (the chart's capacity) and the core's decision at its end. */
    fun state(csv: File, states: File): LiveUiState {
        val frames = frames(csv)
        val history = frames.takeLast(PressureHistory.DEFAULT_CAPACITY).fold(PressureHistory.EMPTY) { h, f -> h + f }
        val (label, confidence, posture) = lastDecision(states)
        val mat = DiscoveredMat(id = "seroton", name = "Seroton mat", rssi = -60)
        return liveUiState(
            LiveConditions(BluetoothAvailability.Ready, mat, SessionStatus.Running, 10.minutes),
            ConnectionStatus.Connected(mat.name!!),
            PresenceReading(label, confidence, frames.last().timestampMillis, null, posture),
            history,
            ZoneOffset.UTC,
        )
    }
}
