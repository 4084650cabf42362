package io.hapticmat.presence

import io.hapticmat.core.BaselineStatus
import io.hapticmat.core.FrameListener
import io.hapticmat.core.HapticMatException
import io.hapticmat.core.MatFrame
import io.hapticmat.core.MatSource
import io.hapticmat.core.PersonalCalibrationStatus
import io.hapticmat.core.SessionStatus
import java.io.File
import java.nio.file.Files
import java.time.LocalDateTime
import java.time.format.DateTimeFormatter
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test

/** The personal calibration ("lie fully on the mat for 10 s") against the real recordings, with the model. */
class PersonalCalibrationTest {
    private val dir: File = Files.createTempDirectory("personal").toFile().apply { deleteOnExit() }

    /**
     * The real recordings cut to [emptySeconds] of the empty mat (long enough to become the baseline)
     * followed by [personSeconds] of the person lying (still for its first 30 s), as one file at the mat's
     * 150 ms pace: a real-time replay of it reaches the person soon.
     */
    private fun emptyThenPerson(emptySeconds: Int, personSeconds: Int): File {
        fun rows(f: File) = f.readLines().drop(1).filter { it.isNotBlank() }.map { it.substringAfter(',').trim() }
        val perSecond = 1000 / FRAME_MS
        val values = rows(TestEnvironment.emptyMat).takeLast(emptySeconds * perSecond) +
            rows(TestEnvironment.personOnMat).take(personSeconds * perSecond)
        val start = LocalDateTime.of(2025, 11, 22, 15, 12, 0)
        val format = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS")
        val text = buildString {
            append("Timestamp,Float1,Float2,Float3,Float4\n")
            values.forEachIndexed { i, v -> append(format.format(start.plusNanos(i * FRAME_MS * 1_000_000L))).append(',').append(v).append('\n') }
        }
        return File(dir, "empty-then-person.csv").apply { writeText(text) }
    }

    @Test
    fun `a user lying on the mat is calibrated, saved per mat and loaded into the next monitor`() = runBlocking<Unit> {
        val recording = emptyThenPerson(emptySeconds = 10, personSeconds = 18)
        val saved = File(dir, "personal/mat-1.json")
        val reference = PresenceMonitor().use { monitor ->
            val details = monitor.loadModel(TestEnvironment.model)
            assertEquals("window", details.inputs.first(), "the model's inputs: ${details.inputs}")
            assertEquals("user_load" in details.inputs, details.readsPersonalCalibration)
            assertNull(monitor.personalCalibration)

            val statuses = Channel<PersonalCalibrationStatus>(Channel.UNLIMITED)
            val statusJob = launch(Dispatchers.Default) { monitor.personalCalibrationStatus.collect { statuses.send(it) } }
            assertEquals(PersonalCalibrationStatus.Missing, withTimeout(10.seconds) { statuses.receive() })

            monitor.start(MatSource.Replay(listOf(recording.path), realtime = true))
            // The still empty mat becomes the baseline, then the person lies down at 10 s.
            eventually(15.seconds) { monitor.state.baseline == BaselineStatus.Automatic }
            eventually(15.seconds) { monitor.state.sessionTimeS >= 11.0 }
            val load = withTimeout(20.seconds) { monitor.calibrateUser() }

            // The person adds 0.7–1.8 kPa per bladder (data/seroton-mat/README.md): ~4.7 kPa over the four.
            assertTrue(load in 4000f..5500f, "$load Pa")
            assertEquals(load, monitor.personalCalibration, "in use at once")
            val seen = generateSequence { statuses.tryReceive().getOrNull() }.toList()
            val countdown = seen.filterIsInstance<PersonalCalibrationStatus.Measuring>().map { it.remainingS }
            assertEquals(10.0, countdown.first(), "counts down from 10 s: $seen")
            assertTrue(countdown.size >= 8, "about once a second: $countdown")
            assertEquals(PersonalCalibrationStatus.Calibrated(load), seen.last())

            monitor.savePersonalCalibration(saved)
            monitor.stop()
            statusJob.cancelAndJoin()
            load
        }

        PresenceMonitor().use { next ->
            assertEquals(reference, next.loadPersonalCalibration(saved))
            assertEquals(reference, next.personalCalibration)
            assertEquals(PersonalCalibrationStatus.Calibrated(reference), next.state.personalCalibration)
            // A mat this user never calibrated on: none.
            assertNull(next.loadPersonalCalibration(File(dir, "personal/mat-2.json")))
            assertNull(next.personalCalibration)
        }
    }

    @Test
    fun `an empty mat is refused as nobody on it, with the reason, and nothing runs without a session`() = runBlocking<Unit> {
        PresenceMonitor().use { monitor ->
            monitor.loadModel(TestEnvironment.model)
            monitor.personalCalibration = 5000f
            val refused = assertFailsWith<HapticMatException.PersonalCalibration> { monitor.calibrateUser() }
            assertTrue(refused.message!!.contains("no session"), refused.message)
            assertFailsWith<HapticMatException.PersonalCalibration> { monitor.personalCalibration = 10f }

            // As fast as the monitor takes the frames: the measurement starts on the session thread, from a
            // frame listener, 40 s into the empty recording (its baseline found long before).
            var asked = false
            val handle = monitor.native.subscribeFrames(object : FrameListener {
                override fun onFrame(frame: MatFrame) {
                    if (!asked && frame.sessionTimeS >= 40.0) {
                        asked = true
                        monitor.native.calibrateUser(10.0)
                    }
                }
            })
            monitor.start(MatSource.Replay(listOf(TestEnvironment.emptyMat.path), realtime = false))
            val failed = withTimeout(30.seconds) {
                monitor.personalCalibrationStatus.first { it is PersonalCalibrationStatus.Failed }
            } as PersonalCalibrationStatus.Failed
            handle.close()
            assertTrue(failed.reason.contains("nobody is lying on the mat"), failed.reason)
            assertEquals(5000f, failed.referenceLoadPa, "the previous calibration stays in use")
            assertEquals(5000f, monitor.personalCalibration)
            eventually { monitor.state.session != SessionStatus.Running }
        }
    }

    private companion object {
        const val FRAME_MS = 150
    }
}
