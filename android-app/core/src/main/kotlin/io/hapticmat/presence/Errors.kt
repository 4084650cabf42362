package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.InternalException

// The facade throws the generated `io.hapticmat.core.HapticMatException`: a sealed class with one
// subclass per case (`BluetoothUnavailable`, `ModelNotLoaded`, `UpdateUntrusted`, `ModelRejected`,
// `Cancelled`, `Internal`, …), each with a message free of personal data. A Rust panic, which the
// bindings raise as their `InternalException`, arrives as `HapticMatException.Internal`, so callers
// catch one type.

/** Runs [block], turning the bindings' panic report into [HapticMatException.Internal]. */
internal inline fun <T> mapErrors(block: () -> T): T =
    try {
        block()
    } catch (e: InternalException) {
        throw HapticMatException.Internal(e.message ?: "Rust panic").apply { initCause(e) }
    }
