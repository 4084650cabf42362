package io.hapticmat.app.domain

import kotlinx.coroutines.flow.StateFlow

/** The phone's network as far as downloads care: none, metered (mobile data) or unmetered (Wi-Fi). */
enum class NetworkKind { None, Metered, Unmetered }

/** The current network, kept up to date by the platform (ConnectivityManager on Android). */
interface NetworkConditions {
    /** The default network's kind now, then each change. */
    val kind: StateFlow<NetworkKind>
}
