package io.hapticmat.app.bluetooth

import kotlinx.coroutines.flow.StateFlow

/** The platform's answer to "may the app use Bluetooth LE now?", kept current. */
interface BluetoothAccess {
    /** The current availability; it changes when the radio is switched or a permission answered. */
    val availability: StateFlow<BluetoothAvailability>

    /** Reads permissions and radio again, after a permission prompt or a return from system settings. */
    fun refresh()
}
