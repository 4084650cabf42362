package io.hapticmat.app.live

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.CalibrationOutcome
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.PersonalCalibrationState
import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.notice.Tone
import io.hapticmat.app.session.SessionStatus
import io.hapticmat.app.session.WaitReason
import io.hapticmat.app.testing.T0
import io.hapticmat.app.testing.TestBluetoothAccess
import io.hapticmat.app.testing.TestMat
import io.hapticmat.app.testing.TestPresenceRepository
import io.hapticmat.app.testing.TestZone
import io.hapticmat.app.testing.frame
import io.hapticmat.app.testing.holderScope
import io.hapticmat.app.testing.reading
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import kotlinx.coroutines.test.runTest
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertInstanceOf
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

class LiveStateHolderTest {
    private val repository = TestPresenceRepository()
    private val bluetooth = TestBluetoothAccess(BluetoothAvailability.Ready)
    private val session = MutableStateFlow<SessionStatus>(SessionStatus.Running)

    /** A holder whose state is collected, as a shown screen would. */
    private fun TestScope.collectedHolder(): LiveStateHolder {
        val holder = LiveStateHolder(repository, bluetooth, session, holderScope(), TestZone)
        backgroundScope.launch(UnconfinedTestDispatcher(testScheduler)) { holder.uiState.collect {} }
        return holder
    }

    private fun LiveStateHolder.live(): LiveUiState.Live = assertInstanceOf(LiveUiState.Live::class.java, uiState.value)

    private fun LiveStateHolder.blocked(): LiveUiState.Blocked =
        assertInstanceOf(LiveUiState.Blocked::class.java, uiState.value)

    @Test
    fun `state is loading until collected`() = runTest {
        val holder = LiveStateHolder(repository, bluetooth, session, holderScope(), TestZone)
        assertEquals(LiveUiState.Loading, holder.uiState.value)
    }

    @Test
    fun `a refused permission blocks the screen with a way to the app settings`() = runTest {
        bluetooth.availability.value = BluetoothAvailability.PermissionDenied
        repository.sendPairedMat(TestMat)
        val notice = collectedHolder().blocked().notice

        assertEquals("Bluetooth permission denied", notice.title)
        assertEquals(NoticeAction.OpenAppSettings, notice.action)
        assertEquals(Tone.Problem, notice.tone)
    }

    @Test
    fun `a permission not yet asked offers the system prompt`() = runTest {
        bluetooth.availability.value = BluetoothAvailability.PermissionNeeded
        val notice = collectedHolder().blocked().notice

        assertEquals(NoticeAction.GrantPermission, notice.action)
        assertTrue("location" in notice.detail, "the prompt's reason says location is not used")
    }

    @Test
    fun `bluetooth off blocks the screen with a way to switch it on`() = runTest {
        bluetooth.availability.value = BluetoothAvailability.BluetoothOff
        repository.sendPairedMat(TestMat)
        val notice = collectedHolder().blocked().notice

        assertEquals("Bluetooth is off", notice.title)
        assertEquals(NoticeAction.EnableBluetooth, notice.action)
    }

    @Test
    fun `location off on android 8 to 11 blocks the screen with a way to its settings`() = runTest {
        bluetooth.availability.value = BluetoothAvailability.LocationOff
        repository.sendPairedMat(TestMat)
        val notice = collectedHolder().blocked().notice

        assertEquals("Location is off", notice.title)
        assertEquals(NoticeAction.EnableLocation, notice.action)
        assertTrue("never uses your location" in notice.detail, notice.detail)
    }

    @Test
    fun `without a paired mat the screen points to pairing`() = runTest {
        session.value = SessionStatus.Waiting(WaitReason.NoMatPaired)
        assertEquals(NoticeAction.PairMat, collectedHolder().blocked().notice.action)
    }

    @Test
    fun `a connected session shows the state in words with its confidence`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.sendConnection(ConnectionStatus.Connected("HapticMat-0042"))
        val holder = collectedHolder()
        assertEquals("Waiting for the mat…", holder.live().presence.headline)

        repository.sendReading(reading(PresenceLabel.LyingPartial, confidence = 0.874f, at = T0))
        val live = holder.live()

        assertEquals("Partly lying", live.presence.headline)
        assertEquals("87 % sure", live.presence.confidence)
        assertEquals("14:03:12", live.presence.updatedAt)
        assertEquals(true, live.presence.isPresent)
        assertFalse(live.presence.isStale)
        assertEquals(ConnectionDisplay("Connected to HapticMat-0042", Tone.Good), live.connection)
        assertEquals("Stops after 10 min with nobody on the mat", live.absenceRule)
    }

    @Test
    fun `a reading the core cannot decide yet shows no confidence`() = runTest {
        repository.sendPairedMat(TestMat)
        val holder = collectedHolder()
        repository.sendReading(reading(label = null))

        assertEquals("Reading the mat…", holder.live().presence.headline)
        assertNull(holder.live().presence.confidence)
        assertNull(holder.live().presence.isPresent)
    }

    @Test
    fun `a mat out of range is said plainly and the last state is marked stale`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.sendConnection(ConnectionStatus.Connected("HapticMat-0042"))
        val holder = collectedHolder()
        repository.sendReading(reading(PresenceLabel.Sitting))

        repository.sendConnection(ConnectionStatus.OutOfRange(attempt = 3))
        val live = holder.live()

        assertEquals("Sitting", live.presence.headline)
        assertTrue(live.presence.isStale)
        assertEquals(Tone.Problem, live.connection.tone)
        assertTrue(live.connection.text.startsWith("Mat out of range"), live.connection.text)
    }

    @Test
    fun `a dropped link before any retry says out of range without a count`() = runTest {
        repository.sendPairedMat(TestMat)
        val holder = collectedHolder()
        repository.sendConnection(ConnectionStatus.OutOfRange())

        assertEquals("Mat out of range — move the phone closer", holder.live().connection.text)
    }

    @Test
    fun `frames fill the chart history in arrival order`() = runTest {
        repository.sendPairedMat(TestMat)
        val holder = collectedHolder()
        repeat(3) { i -> repository.sendFrame(frame(T0 + i * 150L, extra = i * 100f)) }

        val frames = holder.live().history.frames
        assertEquals(listOf(T0, T0 + 150, T0 + 300), frames.map { it.timestampMillis })
    }

    @Test
    fun `the session ending after absence replaces the live view`() = runTest {
        repository.sendPairedMat(TestMat)
        val holder = collectedHolder()
        session.value = SessionStatus.EndedAfterAbsence(10.minutes)

        val ended = assertInstanceOf(LiveUiState.Ended::class.java, holder.uiState.value)
        assertEquals("Session ended", ended.notice.title)
        assertTrue("10 min" in ended.notice.detail)
    }

    @Test
    fun `an unclear posture shows only that someone is on the mat, with how sure the posture is`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.sendConnection(ConnectionStatus.Connected("HapticMat-0042"))
        val holder = collectedHolder()
        repository.sendReading(reading(PresenceLabel.Sitting, confidence = 0.93f, postureConfidence = 0.55f))
        val presence = holder.live().presence

        assertEquals("On the mat", presence.headline)
        assertEquals("posture unclear", presence.postureNote)
        assertEquals("93 % sure", presence.confidence, "presence itself is sure")
        assertEquals("posture 55 % sure", presence.postureConfidence)
        assertEquals(true, presence.isPresent)
    }

    @Test
    fun `a posture at the core's threshold or above is named with its confidence`() = runTest {
        repository.sendPairedMat(TestMat)
        val holder = collectedHolder()
        repository.sendReading(reading(PresenceLabel.LyingFull, postureConfidence = 0.7f))

        assertEquals("Lying", holder.live().presence.headline)
        assertNull(holder.live().presence.postureNote)
        assertEquals("posture 70 % sure", holder.live().presence.postureConfidence)

        // Without a posture confidence the posture is not known to be identifiable.
        repository.sendReading(reading(PresenceLabel.LyingFull, postureConfidence = null))
        assertEquals("On the mat", holder.live().presence.headline)
        assertNull(holder.live().presence.postureConfidence)
    }

    @Test
    fun `nobody on the mat shows no posture line`() = runTest {
        repository.sendPairedMat(TestMat)
        val holder = collectedHolder()
        repository.sendReading(reading(PresenceLabel.Absent, postureConfidence = 0.2f))

        assertEquals("Nobody", holder.live().presence.headline)
        assertNull(holder.live().presence.postureNote)
        assertNull(holder.live().presence.postureConfidence)
    }

    @Test
    fun `calibrate me counts down while measuring and says when it is stored`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.sendConnection(ConnectionStatus.Connected("HapticMat-0042"))
        val finish = CompletableDeferred<CalibrationOutcome>()
        repository.userCalibration = { finish.await() }
        val holder = collectedHolder()
        assertEquals("Not calibrated for you on this mat yet", holder.live().personal.status)
        assertTrue(holder.live().personal.canCalibrate, "enabled while the mat is connected")

        holder.calibrateMe()
        assertEquals("Starting the measurement…", holder.live().personal.status)
        assertFalse(holder.live().personal.canCalibrate)
        holder.calibrateMe()
        assertEquals(1, repository.userCalibrations, "one measurement at a time")

        repository.sendPersonalCalibration(PersonalCalibrationState.Measuring(7.seconds))
        val measuring = holder.live().personal
        assertEquals("Measuring — lie still, 7 s left", measuring.status)
        assertEquals(0.3f, measuring.progress!!, 1e-4f)
        assertFalse(measuring.canCalibrate)

        repository.sendPersonalCalibration(PersonalCalibrationState.Calibrated(4700f))
        finish.complete(CalibrationOutcome.Done(T0))
        val done = holder.live().personal
        assertEquals("Calibrated for you on this mat at 14:03:12", done.status)
        assertNull(done.progress)
        assertNull(done.notice)
        assertTrue(done.canCalibrate, "can be measured again")
    }

    @Test
    fun `a refused calibration says why and that the earlier one stays in use`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.sendConnection(ConnectionStatus.Connected("HapticMat-0042"))
        repository.sendPersonalCalibration(PersonalCalibrationState.Calibrated(4700f))
        val reason = "Nobody is lying on the mat: the load was 12 Pa, a person adds at least 1000 Pa"
        repository.userCalibration = {
            repository.sendPersonalCalibration(PersonalCalibrationState.Failed(reason, previousInUse = true))
            CalibrationOutcome.Failed(reason)
        }
        val holder = collectedHolder()
        assertEquals("Calibrated for you on this mat", holder.live().personal.status, "loaded for this mat")

        holder.calibrateMe()
        val failed = holder.live().personal
        assertEquals("Calibration failed", failed.notice?.title)
        assertEquals(Tone.Problem, failed.notice?.tone)
        assertTrue(failed.notice!!.detail.startsWith(reason), failed.notice!!.detail)
        assertTrue("stays in use" in failed.notice!!.detail, failed.notice!!.detail)
        assertEquals("Your earlier calibration on this mat stays in use", failed.status)
        assertTrue(failed.canCalibrate)
    }

    @Test
    fun `calibrate me is disabled while the mat is not connected`() = runTest {
        repository.sendPairedMat(TestMat)
        repository.sendConnection(ConnectionStatus.OutOfRange(attempt = 1))
        assertFalse(collectedHolder().live().personal.canCalibrate)
    }
}
