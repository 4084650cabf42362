package io.hapticmat.app.service

import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.format.Formats
import io.hapticmat.app.session.SessionStatus
import io.hapticmat.app.session.WaitReason
import kotlin.time.Duration

/**
 * The foreground service's ongoing notification: [title] and [text] in words, and whether it offers
 * Stop. Pure data, so the words are tested on the host JVM; the service turns it into a Notification.
 */
data class SessionNotification(val title: String, val text: String, val offersStop: Boolean)

/** What the notification says for this session, link, latest reading and absence timeout. */
fun sessionNotification(
    status: SessionStatus,
    connection: ConnectionStatus,
    reading: PresenceReading?,
    absenceTimeout: Duration?,
): SessionNotification = when (status) {
    is SessionStatus.EndedAfterAbsence -> SessionNotification(
        "Session ended",
        "Nobody was on the mat for ${Formats.timeout(status.timeout)}, so HapticMat stopped.",
        offersStop = false,
    )
    SessionStatus.StoppedByUser -> SessionNotification("Session stopped", "You stopped HapticMat.", offersStop = false)
    is SessionStatus.Waiting -> when (status.reason) {
        WaitReason.Bluetooth -> SessionNotification(
            "Waiting for Bluetooth",
            "Open HapticMat to allow Bluetooth or turn it on.",
            offersStop = true,
        )
        WaitReason.NoMatPaired -> SessionNotification("No mat paired", "Open HapticMat to pair your mat.", offersStop = true)
    }
    SessionStatus.Running -> running(connection, reading, absenceTimeout)
}

private fun running(connection: ConnectionStatus, reading: PresenceReading?, absenceTimeout: Duration?): SessionNotification {
    val link = when (connection) {
        is ConnectionStatus.Connected -> null
        ConnectionStatus.Idle, ConnectionStatus.Searching -> "Looking for the mat…"
        ConnectionStatus.Connecting -> "Connecting to the mat…"
        ConnectionStatus.BluetoothOff -> "Bluetooth is off"
        is ConnectionStatus.OutOfRange -> "The mat is out of range; reconnecting…"
        is ConnectionStatus.Failed -> "The mat cannot be reached: ${connection.detail}"
    }
    if (link != null) return SessionNotification("Watching the mat", link, offersStop = true)
    val label = reading?.label
    val title = when {
        label == null -> "Reading the mat…"
        !label.isPresent -> "Nobody on the mat"
        reading.postureIdentifiable -> "On the mat: ${label.displayName.lowercase()}"
        else -> "Someone is on the mat"
    }
    val text = absenceTimeout?.let { "Stops by itself after ${Formats.timeout(it)} with nobody on the mat." }
        ?: "Watching the mat."
    return SessionNotification(title, text, offersStop = true)
}
