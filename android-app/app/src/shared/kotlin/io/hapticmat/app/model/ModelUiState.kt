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
    ) : ModelUiState
}

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
