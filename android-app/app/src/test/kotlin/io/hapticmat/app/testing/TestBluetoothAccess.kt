package io.hapticmat.app.testing

import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.bluetooth.BluetoothAvailability
import kotlinx.coroutines.flow.MutableStateFlow

/** A [BluetoothAccess] whose availability a test sets; counts [refresh] calls. */
class TestBluetoothAccess(initial: BluetoothAvailability = BluetoothAvailability.Ready) : BluetoothAccess {
    override val availability = MutableStateFlow(initial)

    /** How often the app asked to re-read permissions and radio. */
    var refreshes = 0
        private set

    override fun refresh() {
        refreshes++
    }
}
