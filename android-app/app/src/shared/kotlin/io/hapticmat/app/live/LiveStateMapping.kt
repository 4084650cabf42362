package io.hapticmat.app.live

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.format.Formats
import io.hapticmat.app.notice.Notice
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.notice.Tone
import io.hapticmat.app.session.SessionStatus
import java.time.ZoneId
import kotlin.time.Duration

/** The inputs that decide whether a live view is possible at all. */
internal data class LiveConditions(
    val bluetooth: BluetoothAvailability,
    val pairedMat: DiscoveredMat?,
    val session: SessionStatus,
    val absenceTimeout: Duration,
)

/** Maps what the repository and platform report to the Live screen's state; pure, so tests pin it. */
internal fun liveUiState(
    conditions: LiveConditions,
    connection: ConnectionStatus,
    reading: PresenceReading?,
    history: PressureHistory,
    zone: ZoneId,
): LiveUiState {
    val session = conditions.session
    if (session is SessionStatus.EndedAfterAbsence) {
        return LiveUiState.Ended(
            Notice(
                title = "Session ended",
                detail = "Nobody was on the mat for ${Formats.timeout(session.timeout)}, so HapticMat stopped.",
                tone = Tone.Neutral,
            ),
        )
    }
    bluetoothNotice(conditions.bluetooth)?.let { return LiveUiState.Blocked(it) }
    if (conditions.pairedMat == null) {
        return LiveUiState.Blocked(
            Notice(
                title = "No mat paired",
                detail = "Pair your HapticMat in Settings to see who is on it.",
                tone = Tone.Neutral,
                action = NoticeAction.PairMat,
            ),
        )
    }
    val connected = connection is ConnectionStatus.Connected
    return LiveUiState.Live(
        presence = presenceDisplay(reading, stale = !connected, zone = zone),
        connection = connectionDisplay(connection),
        history = history,
        absenceRule = "Stops after ${Formats.timeout(conditions.absenceTimeout)} with nobody on the mat",
    )
}

/** The notice that blocks Bluetooth use, or null when Bluetooth is [BluetoothAvailability.Ready]. */
fun bluetoothNotice(availability: BluetoothAvailability): Notice? = when (availability) {
    BluetoothAvailability.Ready -> null
    BluetoothAvailability.PermissionNeeded -> Notice(
        title = "Bluetooth permission needed",
        detail = "HapticMat reads the mat over Bluetooth. It never uses your location.",
        tone = Tone.Neutral,
        action = NoticeAction.GrantPermission,
    )
    BluetoothAvailability.PermissionDenied -> Notice(
        title = "Bluetooth permission denied",
        detail = "Without it HapticMat cannot see the mat. Allow \"Nearby devices\" for HapticMat in the " +
            "app's settings.",
        tone = Tone.Problem,
        action = NoticeAction.OpenAppSettings,
    )
    BluetoothAvailability.BluetoothOff -> Notice(
        title = "Bluetooth is off",
        detail = "Turn Bluetooth on so HapticMat can read the mat.",
        tone = Tone.Problem,
        action = NoticeAction.EnableBluetooth,
    )
    BluetoothAvailability.Unsupported -> Notice(
        title = "No Bluetooth LE on this device",
        detail = "HapticMat needs Bluetooth Low Energy to talk to the mat.",
        tone = Tone.Problem,
    )
}

internal fun presenceDisplay(reading: PresenceReading?, stale: Boolean, zone: ZoneId): PresenceDisplay {
    if (reading == null) {
        return PresenceDisplay("Waiting for the mat…", null, null, isPresent = null, isStale = stale)
    }
    val label = reading.label
    return PresenceDisplay(
        headline = label?.displayName ?: "Reading the mat…",
        confidence = label?.let { "${Formats.percent(reading.confidence)} sure" },
        updatedAt = Formats.clockTime(reading.timestampMillis, zone),
        isPresent = label?.isPresent,
        isStale = stale,
    )
}

internal fun connectionDisplay(status: ConnectionStatus): ConnectionDisplay = when (status) {
    ConnectionStatus.Idle -> ConnectionDisplay("Not connected", Tone.Neutral)
    ConnectionStatus.BluetoothOff -> ConnectionDisplay("Bluetooth is off", Tone.Problem)
    ConnectionStatus.Searching -> ConnectionDisplay("Looking for your mat…", Tone.Working)
    ConnectionStatus.Connecting -> ConnectionDisplay("Connecting to the mat…", Tone.Working)
    is ConnectionStatus.Connected -> ConnectionDisplay("Connected to ${status.matName}", Tone.Good)
    is ConnectionStatus.OutOfRange -> ConnectionDisplay(
        "Mat out of range — move the phone closer" + if (status.attempt > 0) " (retry ${status.attempt})" else "",
        Tone.Problem,
    )
    is ConnectionStatus.Failed -> ConnectionDisplay("Cannot reach the mat: ${status.detail}", Tone.Problem)
}
