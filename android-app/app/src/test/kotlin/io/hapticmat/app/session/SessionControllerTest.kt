package io.hapticmat.app.session

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.testing.TestBluetoothAccess
import io.hapticmat.app.testing.TestMat
import io.hapticmat.app.testing.TestPresenceRepository
import io.hapticmat.app.testing.holderScope
import io.hapticmat.app.testing.reading
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

class SessionControllerTest {
    private val repository = TestPresenceRepository()
    private val bluetooth = TestBluetoothAccess(BluetoothAvailability.Ready)

    private fun TestScope.startedController(): SessionController =
        SessionController(repository, bluetooth, holderScope()).also { it.start() }

    @Test
    fun `session starts once bluetooth is usable and a mat is paired`() = runTest {
        val controller = startedController()
        assertEquals(SessionStatus.Waiting(WaitReason.NoMatPaired), controller.status.value)
        assertFalse(repository.sessionRunning)

        repository.sendPairedMat(TestMat)
        runCurrent()

        assertEquals(SessionStatus.Running, controller.status.value)
        assertTrue(repository.sessionRunning)
    }

    @Test
    fun `no session while the bluetooth permission is denied`() = runTest {
        bluetooth.availability.value = BluetoothAvailability.PermissionDenied
        repository.sendPairedMat(TestMat)
        val controller = startedController()

        assertEquals(SessionStatus.Waiting(WaitReason.Bluetooth), controller.status.value)
        assertFalse("start" in repository.sessionCalls)
    }

    @Test
    fun `bluetooth switched off stops the session and switched on starts it again`() = runTest {
        repository.sendPairedMat(TestMat)
        val controller = startedController()
        assertTrue(repository.sessionRunning)

        bluetooth.availability.value = BluetoothAvailability.BluetoothOff
        runCurrent()
        assertFalse(repository.sessionRunning)
        assertEquals(SessionStatus.Waiting(WaitReason.Bluetooth), controller.status.value)

        bluetooth.availability.value = BluetoothAvailability.Ready
        runCurrent()
        assertTrue(repository.sessionRunning)
    }

    @Test
    fun `nobody on the mat for the absence timeout stops the session and asks the app to close`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.setAbsenceTimeout(10.minutes)
        val controller = startedController()

        repository.sendReading(reading(PresenceLabel.Absent))
        advanceTimeBy(10.minutes - 1.seconds)
        assertEquals(SessionStatus.Running, controller.status.value)

        advanceTimeBy(2.seconds)
        assertEquals(SessionStatus.EndedAfterAbsence(10.minutes), controller.status.value)
        assertFalse(repository.sessionRunning)
        assertEquals("stop", repository.sessionCalls.last())
    }

    @Test
    fun `a person on the mat before the timeout restarts the countdown`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.setAbsenceTimeout(10.minutes)
        val controller = startedController()

        repository.sendReading(reading(PresenceLabel.Absent))
        advanceTimeBy(9.minutes)
        repository.sendReading(reading(PresenceLabel.Sitting))
        advanceTimeBy(30.seconds)
        repository.sendReading(reading(PresenceLabel.Absent))

        // 9.5 min after the first absence the old countdown would have fired; the new one has 10 min.
        advanceTimeBy(9.minutes + 59.seconds)
        assertEquals(SessionStatus.Running, controller.status.value)
        advanceTimeBy(2.seconds)
        assertEquals(SessionStatus.EndedAfterAbsence(10.minutes), controller.status.value)
    }

    @Test
    fun `repeated absent readings do not restart the countdown`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.setAbsenceTimeout(2.minutes)
        val controller = startedController()

        repeat(8) {
            repository.sendReading(reading(PresenceLabel.Absent))
            advanceTimeBy(15.seconds)
        }
        runCurrent()
        assertEquals(SessionStatus.EndedAfterAbsence(2.minutes), controller.status.value)
    }

    @Test
    fun `undecided readings neither start nor reset the countdown`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.setAbsenceTimeout(5.minutes)
        val controller = startedController()

        repository.sendReading(reading(label = null))
        advanceTimeBy(6.minutes)
        assertEquals(SessionStatus.Running, controller.status.value)

        repository.sendReading(reading(PresenceLabel.Absent))
        advanceTimeBy(4.minutes)
        repository.sendReading(reading(label = null))
        advanceTimeBy(1.minutes + 1.seconds)
        assertEquals(SessionStatus.EndedAfterAbsence(5.minutes), controller.status.value)
    }

    @Test
    fun `an ended session is not restarted when conditions change`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.setAbsenceTimeout(2.minutes)
        val controller = startedController()
        repository.sendReading(reading(PresenceLabel.Absent))
        advanceTimeBy(2.minutes + 1.seconds)
        val callsAtEnd = repository.sessionCalls.toList()

        bluetooth.availability.value = BluetoothAvailability.BluetoothOff
        runCurrent()
        bluetooth.availability.value = BluetoothAvailability.Ready
        runCurrent()

        assertEquals(SessionStatus.EndedAfterAbsence(2.minutes), controller.status.value)
        assertEquals(callsAtEnd, repository.sessionCalls)
    }
}
