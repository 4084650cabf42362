package io.hapticmat.app.data

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import io.hapticmat.app.domain.NetworkConditions
import io.hapticmat.app.domain.NetworkKind
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow

/**
 * [NetworkConditions] from ConnectivityManager's default-network callback (framework only): no network,
 * metered (mobile data, a metered hotspot) or unmetered (Wi-Fi, Ethernet). Needs ACCESS_NETWORK_STATE.
 */
class AndroidNetworkConditions(context: Context) : NetworkConditions {
    private val state = MutableStateFlow(NetworkKind.None)

    override val kind: StateFlow<NetworkKind> = state.asStateFlow()

    init {
        val connectivity = context.getSystemService(ConnectivityManager::class.java)
        connectivity.registerDefaultNetworkCallback(object : ConnectivityManager.NetworkCallback() {
            override fun onCapabilitiesChanged(network: Network, capabilities: NetworkCapabilities) {
                state.value = when {
                    !capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET) -> NetworkKind.None
                    capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) -> NetworkKind.Unmetered
                    else -> NetworkKind.Metered
                }
            }

            override fun onLost(network: Network) {
                state.value = NetworkKind.None
            }
        })
    }
}
