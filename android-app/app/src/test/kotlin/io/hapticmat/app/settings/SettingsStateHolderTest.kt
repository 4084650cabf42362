package io.hapticmat.app.settings

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.CalibrationOutcome
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.testing.T0
import io.hapticmat.app.testing.TestBluetoothAccess
import io.hapticmat.app.testing.TestMat
import io.hapticmat.app.testing.TestPresenceRepository
import io.hapticmat.app.testing.TestZone
import io.hapticmat.app.testing.holderScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import kotlinx.coroutines.test.advanceTimeBy
import kotlinx.coroutines.test.runCurrent
import kotlinx.coroutines.test.runTest
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertInstanceOf
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

class SettingsStateHolderTest {
    private val repository = TestPresenceRepository()
    private val bluetooth = TestBluetoothAccess(BluetoothAvailability.Ready)
    private val otherMat = DiscoveredMat(id = "E4:5F:01:00:00:07", name = "HapticMat-0007", rssi = -80)

    private fun TestScope.collectedHolder(): SettingsStateHolder {
        val holder = SettingsStateHolder(repository, bluetooth, holderScope(), TestZone, scanWindow = 15.seconds)
        backgroundScope.launch(UnconfinedTestDispatcher(testScheduler)) { holder.uiState.collect {} }
        return holder
    }

    private fun SettingsStateHolder.ready(): SettingsUiState.Ready =
        assertInstanceOf(SettingsUiState.Ready::class.java, uiState.value)

    @Test
    fun `a scan lists the mats found and picking one pairs it`() = runTest {
        val holder = collectedHolder()
        holder.startScan()
        assertEquals(ScanDisplay.Scanning(emptyList()), holder.ready().scan)
        assertFalse(holder.ready().canScan)

        repository.scanResults.emit(listOf(TestMat, otherMat))
        assertEquals(ScanDisplay.Scanning(listOf(TestMat, otherMat)), holder.ready().scan)

        holder.pair(TestMat)
        assertEquals(listOf(TestMat), repository.pairedRequests)
        assertEquals(TestMat, holder.ready().pairedMat)
        assertEquals(ScanDisplay.Finished(listOf(TestMat, otherMat), message = null), holder.ready().scan)
    }

    @Test
    fun `a scan ends by itself after its window and says when nothing was found`() = runTest {
        val holder = collectedHolder()
        holder.startScan()
        advanceTimeBy(14.seconds)
        assertInstanceOf(ScanDisplay.Scanning::class.java, holder.ready().scan)

        advanceTimeBy(2.seconds)
        assertEquals(ScanDisplay.Finished(emptyList(), SettingsStateHolder.NOTHING_FOUND), holder.ready().scan)
    }

    @Test
    fun `scanning is refused while the bluetooth permission is denied`() = runTest {
        bluetooth.availability.value = BluetoothAvailability.PermissionDenied
        val holder = collectedHolder()
        holder.startScan()

        val state = holder.ready()
        assertEquals(ScanDisplay.Idle, state.scan)
        assertFalse(state.canScan)
        assertEquals("Bluetooth permission denied", state.bluetoothNotice?.title)
    }

    @Test
    fun `calibration reports when the baseline was stored`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.calibrationOutcome = CalibrationOutcome.Done(atMillis = T0)
        val holder = collectedHolder()
        assertTrue(holder.ready().canCalibrate)

        holder.calibrate()
        assertEquals(CalibrationDisplay.Done("Calibrated 2026-11-24 14:03"), holder.ready().calibration)
        assertEquals(1, repository.calibrations)
    }

    @Test
    fun `a failed calibration says why`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.calibrationOutcome = CalibrationOutcome.Failed("someone is on the mat")
        val holder = collectedHolder()
        holder.calibrate()

        val failed = assertInstanceOf(CalibrationDisplay.Failed::class.java, holder.ready().calibration)
        assertEquals("Calibration failed", failed.notice.title)
        assertEquals("someone is on the mat", failed.notice.detail)
    }

    @Test
    fun `calibration needs a paired mat`() = runTest {
        assertFalse(collectedHolder().ready().canCalibrate)
    }

    @Test
    fun `the absence timeout is stored and offered among the choices`() = runTest {
        val holder = collectedHolder()
        assertEquals("10 min", holder.ready().absenceTimeoutText)

        holder.setAbsenceTimeout(45.minutes)
        val state = holder.ready()
        assertEquals(45.minutes, state.absenceTimeout)
        assertEquals("45 min", state.absenceTimeoutText)
        assertEquals(
            listOf(2.minutes, 5.minutes, 10.minutes, 30.minutes, 45.minutes, 1.hours),
            state.absenceTimeoutChoices,
        )
    }

    @Test
    fun `the wi-fi only choice is stored and shown`() = runTest {
        val holder = collectedHolder()
        assertEquals(false, (holder.uiState.value as SettingsUiState.Ready).updateOnWifiOnly)
        holder.setUpdateOnWifiOnly(true)
        runCurrent()
        assertEquals(true, repository.updateOnWifiOnly.value, "stored in the repository")
        assertEquals(true, (holder.uiState.value as SettingsUiState.Ready).updateOnWifiOnly)
    }
}
