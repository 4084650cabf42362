package io.hapticmat.app.service

import android.app.Application
import android.app.Notification
import android.app.NotificationManager
import android.content.Intent
import android.os.Looper
import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.session.SessionHost
import io.hapticmat.app.session.SessionHostOwner
import io.hapticmat.app.session.SessionStatus
import io.hapticmat.app.testing.TestBluetoothAccess
import io.hapticmat.app.testing.TestMat
import io.hapticmat.app.testing.TestPresenceRepository
import io.hapticmat.app.testing.reading
import java.time.Duration
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.minutes
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.android.controller.ServiceController
import org.robolectric.annotation.Config

/** The app as the service sees it: a session over the test repository, on the main looper as on a phone. */
class ServiceTestApp : Application(), SessionHostOwner {
    val repository = TestPresenceRepository()
    val bluetooth = TestBluetoothAccess(BluetoothAvailability.Ready)
    override val sessionHost: SessionHost by lazy {
        SessionHost(repository, bluetooth, CoroutineScope(SupervisorJob() + Dispatchers.Main.immediate))
    }
}

/**
 * PresenceService under Robolectric's Android 14: foreground with the session's notification, the
 * notification following the session, the absence timeout ending it with no activity at all (the phone
 * in a pocket), and the notification's Stop.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], application = ServiceTestApp::class)
class PresenceServiceTest {
    private val app = RuntimeEnvironment.getApplication() as ServiceTestApp
    private val repository get() = app.repository
    private val notifications get() = shadowOf(app.getSystemService(NotificationManager::class.java))

    private fun started(): ServiceController<PresenceService> =
        Robolectric.buildService(PresenceService::class.java).create().startCommand(0, 1).also { idle() }

    private fun idle() = shadowOf(Looper.getMainLooper()).idle()

    /** Runs [block] on the main looper (the repository's flows are collected there) and lets it settle. */
    private fun onMain(block: suspend () -> Unit) {
        CoroutineScope(Dispatchers.Main.immediate).launch { block() }
        idle()
    }

    private fun shown(): Notification = assertNotNull(notifications.getNotification(PresenceService.NOTIFICATION_ID))

    private val Notification.title: String get() = extras.getCharSequence(Notification.EXTRA_TITLE).toString()
    private val Notification.text: String get() = extras.getCharSequence(Notification.EXTRA_TEXT).toString()

    @Test
    fun `it runs in the foreground with an ongoing notification that follows the session`() {
        val service = started().get()
        val foreground = assertNotNull(shadowOf(service).lastForegroundNotification, "startForeground was called")
        assertEquals(PresenceService.NOTIFICATION_ID, shadowOf(service).lastForegroundNotificationId)
        assertEquals(PresenceService.CHANNEL_ID, foreground.channelId)
        assertEquals(
            NotificationManager.IMPORTANCE_LOW,
            app.getSystemService(NotificationManager::class.java).getNotificationChannel(PresenceService.CHANNEL_ID).importance,
        )
        assertEquals("No mat paired", shown().title)

        repository.sendPairedMat(TestMat)
        idle()
        assertTrue(repository.sessionRunning, "the service started the session")
        repository.sendConnection(ConnectionStatus.Connected(TestMat.name!!))
        onMain { repository.sendReading(reading(PresenceLabel.LyingFull)) }
        assertEquals("On the mat: lying", shown().title)
        assertTrue(shown().flags and Notification.FLAG_ONGOING_EVENT != 0, "ongoing while the session runs")
        assertEquals(listOf("Stop"), shown().actions.map { it.title.toString() })
    }

    @Test
    fun `with no activity and the screen off the absence timeout ends the session and the service`() {
        onMain { repository.setAbsenceTimeout(2.minutes) }
        repository.sendPairedMat(TestMat)
        val controller = started()
        repository.sendConnection(ConnectionStatus.Connected(TestMat.name!!))
        onMain { repository.sendReading(reading(PresenceLabel.Absent)) }
        assertTrue(repository.sessionRunning)

        shadowOf(Looper.getMainLooper()).idleFor(Duration.ofSeconds(119))
        assertTrue(repository.sessionRunning, "not before the timeout")
        shadowOf(Looper.getMainLooper()).idleFor(Duration.ofSeconds(2))

        assertEquals(SessionStatus.EndedAfterAbsence(2.minutes), app.sessionHost.status.value)
        assertFalse(repository.sessionRunning, "the session was stopped")
        assertTrue(shadowOf(controller.get()).isStoppedBySelf, "the service stopped itself")
        assertTrue(shadowOf(controller.get()).isForegroundStopped)
        assertEquals("Session ended", shown().title, "the reason stays in the shade")
        assertTrue(shown().flags and Notification.FLAG_ONGOING_EVENT == 0, "and can be dismissed")
    }

    @Test
    fun `the notification's stop ends the session for good`() {
        repository.sendPairedMat(TestMat)
        val controller = started()
        assertTrue(repository.sessionRunning)

        val stop = shown().actions.single().actionIntent
        val intent: Intent = shadowOf(stop).savedIntent
        assertEquals(PresenceService.ACTION_STOP, intent.action)
        controller.withIntent(intent).startCommand(0, 2)
        idle()

        assertEquals(SessionStatus.StoppedByUser, app.sessionHost.status.value)
        assertFalse(repository.sessionRunning)
        assertTrue(shadowOf(controller.get()).isStoppedBySelf)
        assertEquals("Session stopped", shown().title)
    }
}
