package io.hapticmat.app.domain

/** Where the link to the paired mat stands, as the core reports it. */
sealed interface ConnectionStatus {
    /** No session is running, so nothing is connected on purpose. */
    data object Idle : ConnectionStatus

    /** The phone's Bluetooth radio is switched off. */
    data object BluetoothOff : ConnectionStatus

    /** Scanning for the paired mat, which has not answered yet. */
    data object Searching : ConnectionStatus

    /** The mat was found and the GATT connection is being set up. */
    data object Connecting : ConnectionStatus

    /** Frames are arriving from the mat called [matName]. */
    data class Connected(val matName: String) : ConnectionStatus

    /**
     * The link dropped or the mat does not answer: usually out of range. The core reconnects by itself;
     * [attempt] counts its retries (0 before the first).
     */
    data class OutOfRange(val attempt: Int = 0) : ConnectionStatus

    /** The link cannot be made for a reason retrying will not fix; [detail] is safe to show. */
    data class Failed(val detail: String) : ConnectionStatus
}
