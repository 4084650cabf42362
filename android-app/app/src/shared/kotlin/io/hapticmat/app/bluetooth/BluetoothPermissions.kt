package io.hapticmat.app.bluetooth

/**
 * Which runtime permissions BLE needs on which Android version, and what a refusal means.
 *
 * Android 12 (API 31) split BLE into BLUETOOTH_SCAN and BLUETOOTH_CONNECT; the manifest declares SCAN with
 * `neverForLocation` because the mat's advertisements are never used to locate the phone. Up to API 30
 * a BLE scan needs ACCESS_FINE_LOCATION at run time (BLUETOOTH and BLUETOOTH_ADMIN are install-time).
 * Kept free of the Android framework so the rules are tested on the host JVM.
 */
object BluetoothPermissions {
    /** Android 12, where the Bluetooth runtime permissions replaced the location one. */
    const val API_S = 31

    /** Runtime permission to scan for BLE devices (API 31+). */
    const val BLUETOOTH_SCAN = "android.permission.BLUETOOTH_SCAN"

    /** Runtime permission to connect to a paired BLE device (API 31+). */
    const val BLUETOOTH_CONNECT = "android.permission.BLUETOOTH_CONNECT"

    /** Runtime permission a BLE scan needs up to API 30. */
    const val ACCESS_FINE_LOCATION = "android.permission.ACCESS_FINE_LOCATION"

    /** Whether BLE scans on API level [sdkInt] need Location switched on (API 26–30; not with `neverForLocation` from 31). */
    fun needsLocation(sdkInt: Int): Boolean = sdkInt < API_S

    /** The runtime permissions to request on a device running API level [sdkInt]. */
    fun required(sdkInt: Int): List<String> =
        if (sdkInt >= API_S) listOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT) else listOf(ACCESS_FINE_LOCATION)

    /**
     * The availability of BLE given the platform's answers.
     *
     * [granted] says whether a permission is held; [shouldShowRationale] is Android's
     * `shouldShowRequestPermissionRationale`; [askedBefore] whether this app already showed the prompt.
     * Android reports "no rationale" both before the first prompt and after a permanent refusal, which is
     * why [askedBefore] is needed to tell the two apart.
     */
    fun availability(
        sdkInt: Int,
        hasBluetoothLe: Boolean,
        radioOn: Boolean,
        askedBefore: Boolean,
        granted: (String) -> Boolean,
        shouldShowRationale: (String) -> Boolean,
        locationOn: Boolean = true,
    ): BluetoothAvailability {
        if (!hasBluetoothLe) return BluetoothAvailability.Unsupported
        val missing = required(sdkInt).filterNot(granted)
        return when {
            missing.isEmpty() && !radioOn -> BluetoothAvailability.BluetoothOff
            missing.isEmpty() && needsLocation(sdkInt) && !locationOn -> BluetoothAvailability.LocationOff
            missing.isEmpty() -> BluetoothAvailability.Ready
            !askedBefore || missing.any(shouldShowRationale) -> BluetoothAvailability.PermissionNeeded
            else -> BluetoothAvailability.PermissionDenied
        }
    }
}
