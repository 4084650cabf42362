package io.hapticmat.app.model

import io.hapticmat.app.notice.Notice

/** What the Model screen shows. */
sealed interface ModelUiState {
    /** Nothing known yet. */
    data object Loading : ModelUiState

    /**
     * The installed model ([model], null before the first install), the latency of the last inference
     * ([latency], "—" while no session runs), when the phone last checked, and the update control.
     */
    data class Ready(
        val model: ModelDisplay?,
        val latency: String,
        val lastCheck: String,
        val update: UpdateDisplay,
        val benchmark: BenchmarkDisplay = BenchmarkDisplay.Idle,
    ) : ModelUiState
}

/** The Benchmark section: run the phone's models through the core and compare them. */
sealed interface BenchmarkDisplay {
    /** Never run on this screen. */
    data object Idle : BenchmarkDisplay

    /** Running (a few seconds). */
    data object Running : BenchmarkDisplay

    /** One row per model, in the order run. */
    data class Done(val rows: List<BenchmarkRow>) : BenchmarkDisplay

    /** The benchmark could not run; [detail] says why. */
    data class Failed(val detail: String) : BenchmarkDisplay
}

/** One model's figures as shown. */
data class BenchmarkRow(
    val model: String,
    val size: String,
    val load: String,
    val p50: String,
    val p99: String,
    val throughput: String,
    val memory: String,
)

/** The installed model as shown: [sha256] in full (people compare it with the release), [shortSha] on top. */
data class ModelDisplay(
    val name: String,
    val version: String,
    val sequence: Long,
    val sha256: String,
    val shortSha: String,
    val sourceRun: String,
    val installedAt: String?,
)

/** The "update now" control and what the last update did. */
sealed interface UpdateDisplay {
    /** Whether the "Update now" button is enabled. */
    val canStart: Boolean

    /** No update runs; [lastOutcome] says how the last one ended, if any ran. */
    data class Idle(val lastOutcome: Notice?) : UpdateDisplay {
        override val canStart: Boolean get() = true
    }

    /** An update runs: [stage] in words, [fraction] 0..1 while downloading with a known size. */
    data class Running(val stage: String, val fraction: Float?) : UpdateDisplay {
        override val canStart: Boolean get() = false
    }

    /** The last update failed; the model in use stays, and [notice] says why. */
    data class Failed(val notice: Notice) : UpdateDisplay {
        override val canStart: Boolean get() = true
    }
}
