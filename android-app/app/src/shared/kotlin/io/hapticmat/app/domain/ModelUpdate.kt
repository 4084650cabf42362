package io.hapticmat.app.domain

/** One step of a running "update now", in the order the core goes through them. */
sealed interface UpdateProgress {
    /** Fetching and verifying the signed manifest. */
    data object Checking : UpdateProgress

    /** Streaming the model; [totalBytes] is the manifest's size, so a fraction can be shown. */
    data class Downloading(val bytes: Long, val totalBytes: Long?) : UpdateProgress

    /** A request failed and is tried again ([attempt] ≥ 1); [reason] is safe to show. */
    data class Retrying(val attempt: Int, val reason: String) : UpdateProgress

    /** Checking the downloaded file's SHA-256 and loading it once before switching over. */
    data object Verifying : UpdateProgress

    /** The update ended, well or not. */
    data class Finished(val outcome: UpdateOutcome) : UpdateProgress
}

/** How an update check ended, at [atMillis] wall-clock time. */
sealed interface UpdateOutcome {
    /** When the check ended. */
    val atMillis: Long

    /** A newer model was verified and installed. */
    data class Installed(override val atMillis: Long, val version: String) : UpdateOutcome

    /** The server has nothing newer than [version]. */
    data class UpToDate(override val atMillis: Long, val version: String) : UpdateOutcome

    /** Nothing changed on the phone; the model in use stays. [detail] is safe to show. */
    data class Failed(override val atMillis: Long, val reason: UpdateFailure, val detail: String) : UpdateOutcome
}

/** Why an update failed, in the terms a user can act on. */
enum class UpdateFailure {
    /** No network, or the server could not be reached in time. */
    Network,

    /** The server answered with an error. */
    Server,

    /** The manifest's signature, expiry or sequence, or the file's SHA-256, did not check out. */
    Verification,

    /** The new model failed its self-test, so the last known-good model stays in use. */
    ModelRejected,

    /** The phone could not store the model (disk full, say). */
    Storage,

    /** Anything else; [UpdateOutcome.Failed.detail] says what. */
    Other,
}
