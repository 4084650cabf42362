package io.hapticmat.app.session

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.live.LiveStateHolder
import io.hapticmat.app.live.LiveUiState
import io.hapticmat.app.testing.T0
import io.hapticmat.app.testing.TestBluetoothAccess
import io.hapticmat.app.testing.TestMat
import io.hapticmat.app.testing.TestPresenceRepository
import io.hapticmat.app.testing.TestZone
import io.hapticmat.app.testing.frame
import io.hapticmat.app.testing.holderScope
import io.hapticmat.app.testing.reading
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.advanceTimeBy
import kotlinx.coroutines.test.runCurrent
import kotlinx.coroutines.test.runTest
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

class SessionHostTest {
    private val repository = TestPresenceRepository()
    private val bluetooth = TestBluetoothAccess(BluetoothAvailability.Ready)

    /** A screen's scope (a ViewModel's): its own job under the test's background work, cancelled alone. */
    private fun TestScope.screenScope(): CoroutineScope =
        holderScope().let { CoroutineScope(it.coroutineContext + Job(backgroundScope.coroutineContext[Job])) }

    private fun TestScope.startedHost(): SessionHost = SessionHost(repository, bluetooth, holderScope()).also { it.start() }

    @Test
    fun `the notification follows the session from waiting to a person on the mat`() = runTest {
        val host = startedHost()
        assertEquals("No mat paired", host.notification.value.title)
        assertTrue(host.notification.value.offersStop, "a waiting session can be stopped too")

        repository.sendPairedMat(TestMat)
        repository.sendConnection(ConnectionStatus.Connecting)
        runCurrent()
        assertEquals("Watching the mat", host.notification.value.title)
        assertEquals("Connecting to the mat…", host.notification.value.text)

        repository.sendConnection(ConnectionStatus.Connected(TestMat.name!!))
        repository.sendReading(reading(PresenceLabel.Sitting))
        assertEquals("On the mat: sitting", host.notification.value.title)
        assertEquals("Stops by itself after 10 min with nobody on the mat.", host.notification.value.text)

        repository.sendReading(reading(PresenceLabel.LyingPartial, postureConfidence = 0.4f))
        assertEquals("Someone is on the mat", host.notification.value.title, "an unsure posture is not named")

        repository.sendConnection(ConnectionStatus.OutOfRange(attempt = 2))
        assertEquals("The mat is out of range; reconnecting…", host.notification.value.text)
    }

    @Test
    fun `with no screen at all the absence timeout ends the session and the notification says why`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.setAbsenceTimeout(3.minutes)
        val host = startedHost()
        runCurrent()
        assertTrue(repository.sessionRunning)

        repository.sendConnection(ConnectionStatus.Connected(TestMat.name!!))
        repository.sendReading(reading(PresenceLabel.Absent))
        advanceTimeBy(3.minutes + 1.seconds)

        assertEquals(SessionStatus.EndedAfterAbsence(3.minutes), host.status.value)
        assertFalse(repository.sessionRunning, "the core's session was stopped")
        assertEquals("Session ended", host.notification.value.title)
        assertFalse(host.notification.value.offersStop)
    }

    @Test
    fun `stop from the notification ends the session for good`() = runTest {
        repository.sendPairedMat(TestMat)
        val host = startedHost()
        runCurrent()
        assertTrue(repository.sessionRunning)

        host.stopByUser()
        runCurrent()
        assertEquals(SessionStatus.StoppedByUser, host.status.value)
        assertFalse(repository.sessionRunning)
        assertEquals("Session stopped", host.notification.value.title)

        // Bluetooth off and on again would restart a live session: not a stopped one.
        bluetooth.availability.value = BluetoothAvailability.BluetoothOff
        runCurrent()
        bluetooth.availability.value = BluetoothAvailability.Ready
        runCurrent()
        assertEquals(SessionStatus.StoppedByUser, host.status.value)
        assertEquals(listOf("start", "stop"), repository.sessionCalls)
        // Nor does a second stop do anything.
        host.stopByUser()
        runCurrent()
        assertEquals(listOf("start", "stop"), repository.sessionCalls)
    }

    @Test
    fun `the chart keeps its history when the live screen is left and opened again`() = runTest {
        repository.sendPairedMat(TestMat)
        val host = startedHost()
        repository.sendConnection(ConnectionStatus.Connected(TestMat.name!!))
        runCurrent()

        // The Live screen is open for two frames, then closed (its ViewModel scope ends).
        val firstScreen = screenScope()
        val first = LiveStateHolder(repository, bluetooth, host.status, firstScreen, TestZone, history = host.history)
        val firstJob = firstScreen.launch { first.uiState.collect {} }
        repository.sendFrame(frame(T0))
        repository.sendFrame(frame(T0 + 150))
        runCurrent()
        firstJob.cancel()
        firstScreen.cancel()

        // Frames keep coming with no screen; a new Live screen shows all four.
        repository.sendFrame(frame(T0 + 300))
        repository.sendFrame(frame(T0 + 450))
        val secondScreen = screenScope()
        val second = LiveStateHolder(repository, bluetooth, host.status, secondScreen, TestZone, history = host.history)
        secondScreen.launch { second.uiState.collect {} }
        runCurrent()
        val live = second.uiState.value as LiveUiState.Live
        assertEquals(4, live.history.frames.size, "frames seen before this screen opened are on its chart")
    }
}
