package io.hapticmat.app.live

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.PersonalCalibrationState
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.format.Formats
import io.hapticmat.app.notice.Notice
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.notice.Tone
import io.hapticmat.app.session.SessionStatus
import java.time.ZoneId
import kotlin.math.ceil
import kotlin.time.Duration
import kotlin.time.DurationUnit

/** The inputs that decide whether a live view is possible at all. */
internal data class LiveConditions(
    val bluetooth: BluetoothAvailability,
    val pairedMat: DiscoveredMat?,
    val session: SessionStatus,
    val absenceTimeout: Duration,
)

/** A "Calibrate me" asked for on this screen: running, or how it ended. */
internal sealed interface PersonalRun {
    /** None asked for since the screen opened. */
    data object Idle : PersonalRun

    /** Asked for; the repository's state says how far it is. */
    data object Running : PersonalRun

    /** Stored for this mat at [atMillis]. */
    data class Done(val atMillis: Long) : PersonalRun

    /** Refused: [detail] says why. */
    data class Failed(val detail: String) : PersonalRun
}

/** The user's calibration as the repository reports it, and the run asked for on this screen. */
internal data class PersonalInputs(val state: PersonalCalibrationState, val run: PersonalRun)

/** Maps what the repository and platform report to the Live screen's state; pure, so tests pin it. */
internal fun liveUiState(
    conditions: LiveConditions,
    connection: ConnectionStatus,
    reading: PresenceReading?,
    history: PressureHistory,
    zone: ZoneId,
    personal: PersonalInputs = PersonalInputs(PersonalCalibrationState.None, PersonalRun.Idle),
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
    if (session == SessionStatus.StoppedByUser) {
        return LiveUiState.Ended(
            Notice(title = "Session stopped", detail = "You stopped HapticMat from its notification.", tone = Tone.Neutral),
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
        personal = personalCalibrationDisplay(personal, connected, zone),
    )
}

/**
 * The "Calibrate me" card: a countdown while measuring, then the outcome; enabled while the mat is
 * connected and no measurement runs.
 */
internal fun personalCalibrationDisplay(
    personal: PersonalInputs,
    connected: Boolean,
    zone: ZoneId,
): PersonalCalibrationDisplay {
    val (state, run) = personal
    if (state is PersonalCalibrationState.Measuring) {
        val left = ceil(state.remaining.toDouble(DurationUnit.SECONDS)).toInt().coerceAtLeast(0)
        return PersonalCalibrationDisplay("Measuring — lie still, $left s left", state.progress, null, canCalibrate = false)
    }
    if (run == PersonalRun.Running) {
        return PersonalCalibrationDisplay("Starting the measurement…", 0f, null, canCalibrate = false)
    }
    val failure = when {
        run is PersonalRun.Failed -> run.detail
        state is PersonalCalibrationState.Failed && run !is PersonalRun.Done -> state.detail
        else -> null
    }
    val kept = state is PersonalCalibrationState.Calibrated ||
        (state is PersonalCalibrationState.Failed && state.previousInUse)
    val status = when {
        run is PersonalRun.Done -> "Calibrated for you on this mat at ${Formats.clockTime(run.atMillis, zone)}"
        state is PersonalCalibrationState.Calibrated -> "Calibrated for you on this mat"
        kept -> "Your earlier calibration on this mat stays in use"
        else -> PersonalCalibrationDisplay.NOT_CALIBRATED
    }
    val notice = failure?.let {
        Notice(
            title = "Calibration failed",
            detail = it + if (kept) " Your earlier calibration stays in use." else "",
            tone = Tone.Problem,
        )
    }
    return PersonalCalibrationDisplay(status, progress = null, notice = notice, canCalibrate = connected)
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
    BluetoothAvailability.LocationOff -> Notice(
        title = "Location is off",
        detail = "On this Android version the phone finds Bluetooth devices only with Location on. " +
            "HapticMat never uses your location.",
        tone = Tone.Problem,
        action = NoticeAction.EnableLocation,
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
    val present = label?.isPresent == true
    // A posture is named only when the core is sure enough of it; otherwise only presence is.
    val unclear = present && !reading.postureIdentifiable
    return PresenceDisplay(
        headline = if (unclear) ON_THE_MAT else label?.displayName ?: "Reading the mat…",
        confidence = label?.let { "${Formats.percent(reading.confidence)} sure" },
        updatedAt = Formats.clockTime(reading.timestampMillis, zone),
        isPresent = label?.isPresent,
        isStale = stale,
        postureNote = if (unclear) POSTURE_UNCLEAR else null,
        postureConfidence = reading.postureConfidence?.takeIf { present }?.let { "posture ${Formats.percent(it)} sure" },
    )
}

/** The headline when someone is on the mat in a posture too unsure to name. */
const val ON_THE_MAT = "On the mat"

/** The note under it. */
const val POSTURE_UNCLEAR = "posture unclear"


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
