package io.hapticmat.app.bluetooth

import io.hapticmat.app.bluetooth.BluetoothPermissions.ACCESS_FINE_LOCATION
import io.hapticmat.app.bluetooth.BluetoothPermissions.BLUETOOTH_CONNECT
import io.hapticmat.app.bluetooth.BluetoothPermissions.BLUETOOTH_SCAN
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class BluetoothPermissionsTest {
    private fun availability(
        sdk: Int = 34,
        le: Boolean = true,
        radioOn: Boolean = true,
        askedBefore: Boolean = false,
        granted: Set<String> = emptySet(),
        rationale: Set<String> = emptySet(),
        locationOn: Boolean = true,
    ) = BluetoothPermissions.availability(sdk, le, radioOn, askedBefore, { it in granted }, { it in rationale }, locationOn)

    @Test
    fun `android 12 and later ask for scan and connect, older versions for fine location`() {
        assertEquals(listOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT), BluetoothPermissions.required(31))
        assertEquals(listOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT), BluetoothPermissions.required(35))
        assertEquals(listOf(ACCESS_FINE_LOCATION), BluetoothPermissions.required(30))
        assertEquals(listOf(ACCESS_FINE_LOCATION), BluetoothPermissions.required(26))
    }

    @Test
    fun `ready only with every permission granted and the radio on`() {
        assertEquals(
            BluetoothAvailability.Ready,
            availability(granted = setOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT)),
        )
        assertEquals(
            BluetoothAvailability.PermissionNeeded,
            availability(granted = setOf(BLUETOOTH_SCAN)),
        )
        assertEquals(
            BluetoothAvailability.Ready,
            availability(sdk = 30, granted = setOf(ACCESS_FINE_LOCATION)),
        )
    }

    @Test
    fun `radio off is reported once permissions are granted`() {
        assertEquals(
            BluetoothAvailability.BluetoothOff,
            availability(radioOn = false, granted = setOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT)),
        )
        // Without permissions the person has to answer the prompt first.
        assertEquals(BluetoothAvailability.PermissionNeeded, availability(radioOn = false))
    }

    @Test
    fun `a refusal with rationale can be asked again, one without is permanent`() {
        assertEquals(BluetoothAvailability.PermissionNeeded, availability(askedBefore = false))
        assertEquals(
            BluetoothAvailability.PermissionNeeded,
            availability(askedBefore = true, rationale = setOf(BLUETOOTH_CONNECT)),
        )
        assertEquals(BluetoothAvailability.PermissionDenied, availability(askedBefore = true))
    }

    @Test
    fun `a device without bluetooth le is unsupported whatever else holds`() {
        assertEquals(
            BluetoothAvailability.Unsupported,
            availability(le = false, granted = setOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT)),
        )
    }

    @Test
    fun `location off blocks scanning on android 8 to 11 only`() {
        assertEquals(
            BluetoothAvailability.LocationOff,
            availability(sdk = 30, granted = setOf(ACCESS_FINE_LOCATION), locationOn = false),
        )
        assertEquals(
            BluetoothAvailability.LocationOff,
            availability(sdk = 26, granted = setOf(ACCESS_FINE_LOCATION), locationOn = false),
        )
        // Android 12+ scans with neverForLocation: Location's switch does not matter.
        assertEquals(
            BluetoothAvailability.Ready,
            availability(sdk = 31, granted = setOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT), locationOn = false),
        )
        // The radio comes first, then the permission prompt: one thing to fix at a time.
        assertEquals(
            BluetoothAvailability.BluetoothOff,
            availability(sdk = 30, radioOn = false, granted = setOf(ACCESS_FINE_LOCATION), locationOn = false),
        )
        assertEquals(BluetoothAvailability.PermissionNeeded, availability(sdk = 30, locationOn = false))
    }
}
