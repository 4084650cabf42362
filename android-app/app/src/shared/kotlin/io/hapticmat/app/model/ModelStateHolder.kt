package io.hapticmat.app.model

import io.hapticmat.app.WhileUiSubscribed
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.domain.UpdateFailure
import io.hapticmat.app.domain.UpdateOutcome
import io.hapticmat.app.domain.UpdateProgress
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

    private val latency = repository.readings
        .map<PresenceReading, Duration?> { it.inferenceLatency }
        .onStart { emit(null) }

    /** The screen state. */
    val uiState: StateFlow<ModelUiState> =
        combine(repository.modelInfo, repository.lastUpdateOutcome, latency, run) { info, outcome, latency, run ->
            modelUiState(info, outcome, latency, run, zone)
        }.stateIn(scope, WhileUiSubscribed, ModelUiState.Loading)

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
