package io.hapticmat.app.model

import io.hapticmat.app.WhileUiSubscribed
import io.hapticmat.app.domain.ModelBenchmark
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.domain.UpdateFailure
import io.hapticmat.app.domain.UpdateOutcome
import io.hapticmat.app.domain.UpdateProgress
import io.hapticmat.app.format.Formats
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onStart
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch
import java.time.ZoneId
import java.util.Locale
import kotlin.time.Duration

/**
 * The Model screen's logic: what model runs, how fast, and "update now" with its progress and failures.
 *
 * The update runs in [scope], so it goes on when the screen is left; only one runs at a time.
 * [now] is wall-clock milliseconds, injected so tests pin outcome times.
 */
class ModelStateHolder(
    private val repository: PresenceRepository,
    private val scope: CoroutineScope,
    zone: ZoneId = ZoneId.systemDefault(),
    private val now: () -> Long = System::currentTimeMillis,
) {
    private val run = MutableStateFlow<UpdateRun>(UpdateRun.None)
    private var updateJob: Job? = null
    private val benchmark = MutableStateFlow<BenchmarkDisplay>(BenchmarkDisplay.Idle)
    private var benchmarkJob: Job? = null

    private val latency = repository.readings
        .map<PresenceReading, Duration?> { it.inferenceLatency }
        .onStart { emit(null) }

    /** The screen state. */
    val uiState: StateFlow<ModelUiState> =
        combine(repository.modelInfo, repository.lastUpdateOutcome, latency, run, benchmark) { info, outcome, latency, run, bench ->
            when (val state = modelUiState(info, outcome, latency, run, zone)) {
                is ModelUiState.Ready -> state.copy(benchmark = bench)
                ModelUiState.Loading -> state
            }
        }.stateIn(scope, WhileUiSubscribed, ModelUiState.Loading)

    /** Benchmarks the phone's models through the core, unless a benchmark runs; goes on if the screen is left. */
    fun runBenchmark() {
        if (benchmarkJob?.isActive == true) return
        benchmarkJob = scope.launch {
            benchmark.value = BenchmarkDisplay.Running
            benchmark.value = try {
                BenchmarkDisplay.Done(repository.benchmarkModels().map(::benchmarkRow))
            } catch (e: CancellationException) {
                benchmark.value = BenchmarkDisplay.Idle
                throw e
            } catch (e: Exception) {
                BenchmarkDisplay.Failed(e.message ?: e::class.simpleName.orEmpty())
            }
        }
    }

    /** Starts an update check unless one runs. */
    fun updateNow() {
        if (updateJob?.isActive == true) return
        updateJob = scope.launch {
            run.value = UpdateRun.Running(UpdateProgress.Checking)
            val ended = try {
                var finished: UpdateOutcome? = null
                repository.updateNow().collect { progress ->
                    if (progress is UpdateProgress.Finished) {
                        finished = progress.outcome
                    } else {
                        run.value = UpdateRun.Running(progress)
                    }
                }
                finished ?: UpdateOutcome.Failed(now(), UpdateFailure.Other, "the update ended without a result")
            } catch (e: CancellationException) {
                run.value = UpdateRun.None
                throw e
            } catch (e: Exception) {
                // The repository reports failures as outcomes; this only keeps a broken one from leaving
                // the screen stuck in "running".
                UpdateOutcome.Failed(now(), UpdateFailure.Other, e.message ?: e::class.simpleName.orEmpty())
            }
            run.value = UpdateRun.Ended(ended)
        }
    }

    /** Stops a running update; the model in use stays. */
    fun cancelUpdate() {
        updateJob?.cancel()
    }
}

/** A model's figures in words: sizes in KB/MB, latency in µs, throughput per second. */
internal fun benchmarkRow(b: ModelBenchmark) = BenchmarkRow(
    model = b.model,
    size = Formats.bytes(b.sizeBytes),
    load = String.format(Locale.ROOT, "%.1f ms", b.loadMs),
    p50 = String.format(Locale.ROOT, "%.1f µs", b.p50Us),
    p99 = String.format(Locale.ROOT, "%.1f µs", b.p99Us),
    throughput = String.format(Locale.ROOT, "%,.0f /s", b.throughputPerS),
    memory = b.memoryBytes?.let(Formats::bytes) ?: "—",
)
