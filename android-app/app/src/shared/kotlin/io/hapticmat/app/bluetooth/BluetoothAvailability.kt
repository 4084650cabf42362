package io.hapticmat.app.bluetooth

/** Whether the app may use Bluetooth LE right now, and if not, the first thing the user has to fix. */
enum class BluetoothAvailability {
    /** Permissions granted and the radio on. */
    Ready,

    /** The runtime permissions are missing and the system will still show its prompt. */
    PermissionNeeded,

    /** The user refused the permissions for good: only the app's system settings can grant them now. */
    PermissionDenied,

    /** Permissions are fine but the Bluetooth radio is off. */
    BluetoothOff,

    /**
     * Android 8–11 (API 26–30) only: Location is switched off in system settings. On those versions a BLE
     * scan returns nothing while Location is off, even with the permission granted.
     */
    LocationOff,

    /** This device has no Bluetooth LE. */
    Unsupported,
}
