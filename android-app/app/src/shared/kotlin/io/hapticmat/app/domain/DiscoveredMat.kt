package io.hapticmat.app.domain

/**
 * A mat seen in a BLE scan, or the one the user paired. [id] is the platform's peripheral id (stable per
 * phone), [name] the advertised name if any, [rssi] the signal strength in dBm of the last advertisement.
 */
data class DiscoveredMat(val id: String, val name: String?, val rssi: Int? = null)
