package io.hapticmat.app.model

import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.domain.UpdateFailure
import io.hapticmat.app.domain.UpdateOutcome
import io.hapticmat.app.domain.UpdateProgress
import io.hapticmat.app.notice.Tone
import io.hapticmat.app.domain.ModelBenchmark
import io.hapticmat.app.testing.T0
import io.hapticmat.app.testing.TestModel
import io.hapticmat.app.testing.TestPresenceRepository
import io.hapticmat.app.testing.TestZone
import io.hapticmat.app.testing.holderScope
import io.hapticmat.app.testing.reading
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.test.runCurrent
import kotlinx.coroutines.test.runTest
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertInstanceOf
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.IOException
import kotlin.time.Duration.Companion.microseconds

class ModelStateHolderTest {
    private val repository = TestPresenceRepository()

    private fun TestScope.collectedHolder(): ModelStateHolder {
        val holder = ModelStateHolder(repository, holderScope(), TestZone, now = { T0 })
        backgroundScope.launch(UnconfinedTestDispatcher(testScheduler)) { holder.uiState.collect {} }
        return holder
    }

    private fun ModelStateHolder.ready(): ModelUiState.Ready =
        assertInstanceOf(ModelUiState.Ready::class.java, uiState.value)

    @Test
    fun `the installed model shows version, digest and source run`() = runTest {
        repository.sendModelInfo(TestModel)
        val state = collectedHolder().ready()
        val model = state.model!!

        assertEquals("1.2.0", model.version)
        assertEquals(TestModel.sha256, model.sha256)
        assertEquals("3f5a9c0e1b2d", model.shortSha)
        assertEquals("a1b2c3d4e5f60718", model.sourceRun)
        assertEquals("2026-11-23 14:03", model.installedAt)
        assertEquals("2026-11-24 13:03", state.lastCheck)
        assertEquals(UpdateDisplay.Idle(lastOutcome = null), state.update)
    }

    @Test
    fun `before any install the screen says so and offers an update`() = runTest {
        val state = collectedHolder().ready()

        assertNull(state.model)
        assertEquals("Never", state.lastCheck)
        assertTrue(state.update.canStart)
    }

    @Test
    fun `inference latency comes from the running session`() = runTest {
        val holder = collectedHolder()
        assertEquals("—", holder.ready().latency)

        repository.sendReading(reading(PresenceLabel.Sitting, latency = 420.microseconds))
        assertEquals("0.42 ms per inference", holder.ready().latency)
    }

    @Test
    fun `update now reports each step and ends with the installed version`() = runTest {
        repository.sendModelInfo(TestModel)
        val holder = collectedHolder()
        holder.updateNow()
        assertEquals(UpdateDisplay.Running("Checking for a newer model…", null), holder.ready().update)
        assertFalse(holder.ready().update.canStart)

        repository.updateSteps.emit(UpdateProgress.Downloading(bytes = 420_000, totalBytes = 840_000))
        assertEquals(UpdateDisplay.Running("Downloading 420 kB of 840 kB", 0.5f), holder.ready().update)

        repository.updateSteps.emit(UpdateProgress.Retrying(attempt = 2, reason = "HTTP 503"))
        assertEquals(UpdateDisplay.Running("Retrying (attempt 2): HTTP 503", null), holder.ready().update)

        repository.updateSteps.emit(UpdateProgress.Verifying)
        assertEquals("Verifying the new model…", (holder.ready().update as UpdateDisplay.Running).stage)

        repository.updateSteps.emit(UpdateProgress.Finished(UpdateOutcome.Installed(T0, "1.3.0")))
        val idle = assertInstanceOf(UpdateDisplay.Idle::class.java, holder.ready().update)
        assertEquals("Updated to 1.3.0", idle.lastOutcome?.title)
        assertEquals(Tone.Good, idle.lastOutcome?.tone)
        assertEquals("2026-11-24 14:03", holder.ready().lastCheck)
    }

    @Test
    fun `a failing update is shown as failed and the current model stays`() = runTest {
        repository.sendModelInfo(TestModel)
        val holder = collectedHolder()
        holder.updateNow()
        repository.updateSteps.emit(
            UpdateProgress.Finished(UpdateOutcome.Failed(T0, UpdateFailure.Network, "timed out after 30 s")),
        )

        val failed = assertInstanceOf(UpdateDisplay.Failed::class.java, holder.ready().update)
        assertEquals("Update failed: no connection", failed.notice.title)
        assertTrue("timed out after 30 s" in failed.notice.detail, failed.notice.detail)
        assertTrue("The current model stays in use" in failed.notice.detail, failed.notice.detail)
        assertEquals(Tone.Problem, failed.notice.tone)
        assertTrue(failed.canStart, "a failed update can be retried")
        assertEquals("1.2.0", holder.ready().model?.version)
    }

    @Test
    fun `a rejected model says the last known-good one stays`() = runTest {
        val holder = collectedHolder()
        holder.updateNow()
        repository.updateSteps.emit(
            UpdateProgress.Finished(UpdateOutcome.Failed(T0, UpdateFailure.ModelRejected, "")),
        )

        val failed = assertInstanceOf(UpdateDisplay.Failed::class.java, holder.ready().update)
        assertEquals("Update rejected", failed.notice.title)
        assertTrue("self-test" in failed.notice.detail)
    }

    @Test
    fun `an update that throws is shown as failed instead of running forever`() = runTest {
        repository.updateError = IOException("cache directory is read-only")
        val holder = collectedHolder()
        holder.updateNow()

        val failed = assertInstanceOf(UpdateDisplay.Failed::class.java, holder.ready().update)
        assertTrue("cache directory is read-only" in failed.notice.detail)
    }

    @Test
    fun `the last persisted failure is shown when the screen opens`() = runTest {
        repository.sendLastUpdateOutcome(UpdateOutcome.Failed(T0, UpdateFailure.Verification, "bad signature"))
        val failed = assertInstanceOf(UpdateDisplay.Failed::class.java, collectedHolder().ready().update)

        assertEquals("Update rejected", failed.notice.title)
    }

    @Test
    fun `pressing update twice runs one update`() = runTest {
        val holder = collectedHolder()
        holder.updateNow()
        holder.updateNow()

        assertEquals(1, repository.updateRequests)
    }

    @Test
    fun `a cancelled update leaves the previous outcome on screen`() = runTest {
        repository.sendLastUpdateOutcome(UpdateOutcome.UpToDate(T0, "1.2.0"))
        val holder = collectedHolder()
        holder.updateNow()
        holder.cancelUpdate()

        val idle = assertInstanceOf(UpdateDisplay.Idle::class.java, holder.ready().update)
        assertEquals("Up to date", idle.lastOutcome?.title)
    }

    @Test
    fun `the benchmark shows each model's figures in words and runs once at a time`() = runTest {
        repository.sendModelInfo(TestModel)
        repository.benchmarkResult = listOf(
            ModelBenchmark("int8 · installed", 15_784, 8.04, 13.71, 36.2, 58_732.4, 620_000),
            ModelBenchmark("fp32 · bundled", 29_517, 2.1, 8.1, 9.7, 95_653.0, null),
        )
        val gate = CompletableDeferred<Unit>()
        repository.benchmarkGate = gate
        val holder = collectedHolder()
        assertEquals(BenchmarkDisplay.Idle, holder.ready().benchmark)

        holder.runBenchmark()
        holder.runBenchmark()
        assertEquals(BenchmarkDisplay.Running, holder.ready().benchmark)
        gate.complete(Unit)
        runCurrent()

        assertEquals(1, repository.benchmarks, "a second press while running starts nothing")
        val rows = assertInstanceOf(BenchmarkDisplay.Done::class.java, holder.ready().benchmark).rows
        assertEquals(
            BenchmarkRow("int8 · installed", "16 kB", "8.0 ms", "13.7 µs", "36.2 µs", "58,732 /s", "620 kB"),
            rows[0],
        )
        assertEquals("—", rows[1].memory, "a platform that does not say shows a dash")
    }

    @Test
    fun `a benchmark that cannot run says why`() = runTest {
        repository.sendModelInfo(null)
        repository.benchmarkError = IllegalStateException("no model on this phone yet: run Update now")
        val holder = collectedHolder()
        holder.runBenchmark()
        runCurrent()
        assertEquals(BenchmarkDisplay.Failed("no model on this phone yet: run Update now"), holder.ready().benchmark)
    }
}
