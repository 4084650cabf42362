package io.hapticmat.app.model

import io.hapticmat.app.domain.ModelInfo
import io.hapticmat.app.domain.UpdateFailure
import io.hapticmat.app.domain.UpdateOutcome
import io.hapticmat.app.domain.UpdateProgress
import io.hapticmat.app.format.Formats
import io.hapticmat.app.notice.Notice
import io.hapticmat.app.notice.Tone
import java.time.ZoneId
import kotlin.time.Duration

/** An update started from this screen: running with its latest step, or ended with an outcome. */
internal sealed interface UpdateRun {
    data object None : UpdateRun

    data class Running(val progress: UpdateProgress) : UpdateRun

    data class Ended(val outcome: UpdateOutcome) : UpdateRun
}

/** Maps repository values and this screen's update run to the Model screen state; pure, so tests pin it. */
internal fun modelUiState(
    info: ModelInfo?,
    persistedOutcome: UpdateOutcome?,
    latency: Duration?,
    run: UpdateRun,
    zone: ZoneId,
): ModelUiState.Ready {
    // An update run from this screen is newer than the persisted outcome, which it also rewrites.
    val outcome = (run as? UpdateRun.Ended)?.outcome ?: persistedOutcome
    val update = when {
        run is UpdateRun.Running -> runningDisplay(run.progress)
        outcome is UpdateOutcome.Failed -> UpdateDisplay.Failed(failureNotice(outcome, zone))
        else -> UpdateDisplay.Idle(outcome?.let { successNotice(it, zone) })
    }
    val lastCheckMillis = listOfNotNull(info?.lastCheckAtMillis, outcome?.atMillis).maxOrNull()
    return ModelUiState.Ready(
        model = info?.let { modelDisplay(it, zone) },
        latency = latency?.let { "${Formats.latency(it)} per inference" } ?: "—",
        lastCheck = lastCheckMillis?.let { Formats.dateTime(it, zone) } ?: "Never",
        update = update,
    )
}

internal fun modelDisplay(info: ModelInfo, zone: ZoneId) = ModelDisplay(
    name = info.name,
    version = info.version,
    sequence = info.sequence,
    sha256 = info.sha256,
    shortSha = Formats.shortSha(info.sha256),
    sourceRun = info.sourceRunId,
    installedAt = info.installedAtMillis?.let { Formats.dateTime(it, zone) },
)

internal fun runningDisplay(progress: UpdateProgress): UpdateDisplay = when (progress) {
    UpdateProgress.Checking -> UpdateDisplay.Running("Checking for a newer model…", null)
    is UpdateProgress.Downloading -> {
        val total = progress.totalBytes?.takeIf { it > 0 }
        val stage = if (total != null) {
            "Downloading ${Formats.bytes(progress.bytes)} of ${Formats.bytes(total)}"
        } else {
            "Downloading ${Formats.bytes(progress.bytes)}"
        }
        UpdateDisplay.Running(stage, total?.let { (progress.bytes.toFloat() / it).coerceIn(0f, 1f) })
    }
    is UpdateProgress.Retrying ->
        UpdateDisplay.Running("Retrying (attempt ${progress.attempt}): ${progress.reason}", null)
    UpdateProgress.Verifying -> UpdateDisplay.Running("Verifying the new model…", 1f)
    // A finished step is turned into an outcome before it gets here; shown as done if it ever does.
    is UpdateProgress.Finished -> UpdateDisplay.Running("Finishing…", 1f)
}

internal fun successNotice(outcome: UpdateOutcome, zone: ZoneId): Notice? = when (outcome) {
    is UpdateOutcome.Installed -> Notice(
        title = "Updated to ${outcome.version}",
        detail = "Installed ${Formats.dateTime(outcome.atMillis, zone)}.",
        tone = Tone.Good,
    )
    is UpdateOutcome.UpToDate -> Notice(
        title = "Up to date",
        detail = "${outcome.version} is the newest model (checked ${Formats.dateTime(outcome.atMillis, zone)}).",
        tone = Tone.Good,
    )
    is UpdateOutcome.Failed -> null
}

internal fun failureNotice(outcome: UpdateOutcome.Failed, zone: ZoneId): Notice {
    val (title, why) = when (outcome.reason) {
        UpdateFailure.Network -> "Update failed: no connection" to "The update server could not be reached."
        UpdateFailure.Server -> "Update failed: server error" to "The update server answered with an error."
        UpdateFailure.Verification ->
            "Update rejected" to "The download did not pass verification (signature, expiry or checksum)."
        UpdateFailure.ModelRejected -> "Update rejected" to "The new model failed its self-test on this phone."
        UpdateFailure.Storage -> "Update failed: storage" to "The phone could not store the model."
        UpdateFailure.Other -> "Update failed" to "The update stopped."
    }
    val detail = buildString {
        append(why)
        if (outcome.detail.isNotBlank()) append(" (").append(outcome.detail).append(')')
        append(" The current model stays in use. ")
        append(Formats.dateTime(outcome.atMillis, zone)).append('.')
    }
    return Notice(title = title, detail = detail, tone = Tone.Problem)
}
