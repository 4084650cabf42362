package io.hapticmat.app.model

import io.hapticmat.app.domain.NetworkConditions
import io.hapticmat.app.domain.NetworkKind
import io.hapticmat.app.domain.PresenceRepository
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlin.time.Duration
import kotlin.time.Duration.Companion.hours

/**
 * When the app looks for a newer model by itself (what Firebase's model downloader calls download
 * conditions): at start — the first run included, right after the bundled model is installed — and then
 * every [interval] while the app runs, each time only once the network allows it: any network, or
 * unmetered only when the user chose "Wi-Fi only". A check that cannot run waits for the network
 * instead of failing. The repository records each outcome, as for "Update now".
 */
class UpdateSchedule(
    private val repository: PresenceRepository,
    private val network: NetworkConditions,
    private val scope: CoroutineScope,
    private val interval: Duration = DEFAULT_INTERVAL,
) {
    private var job: Job? = null

    /** Checks made by this schedule. */
    var checks = 0
        private set

    /** Starts the schedule (idempotent). */
    fun start() {
        if (job != null) return
        job = scope.launch {
            while (true) {
                combine(network.kind, repository.updateOnWifiOnly, ::updateAllowed).first { it }
                checks++
                repository.updateNow().collect {}
                delay(interval)
            }
        }
    }

    /** The default time between checks. */
    companion object {
        val DEFAULT_INTERVAL = 24.hours
    }
}

/** Whether a model download may start on [kind] of network with the user's [wifiOnly] choice. */
fun updateAllowed(kind: NetworkKind, wifiOnly: Boolean): Boolean =
    kind == NetworkKind.Unmetered || (kind == NetworkKind.Metered && !wifiOnly)
