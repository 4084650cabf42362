package io.hapticmat.app

import android.content.Context
import io.hapticmat.android.HapticMatNative
import io.hapticmat.app.bluetooth.AndroidBluetoothAccess
import io.hapticmat.app.data.AndroidNetworkConditions
import io.hapticmat.app.data.CorePresenceRepository
import io.hapticmat.app.data.ModelStore
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.model.UpdateSchedule
import io.hapticmat.app.session.SessionHost
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob

/**
 * The app's objects, built once per process by hand (no DI framework for four classes).
 *
 * Loading the native libraries comes first: it must precede every call into the core (docs/design.md §8).
 */
class AppContainer(context: Context) {
    /** Work that must finish even when the screen that started it is gone (stopping a session). */
    val applicationScope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** Permissions and radio, kept current. */
    val bluetooth = AndroidBluetoothAccess(context)

    /** The mat and the presence core. */
    val repository: PresenceRepository =
        CorePresenceRepository(context, HapticMatNative.load(context), applicationScope, ModelStore.fromBuildConfig())

    /** The one monitoring session of the process; PresenceService starts it and keeps it in the foreground. */
    val sessionHost = SessionHost(repository, bluetooth, applicationScope)

    /** Automatic model checks: at start (after the bundled model is installed), then daily, Wi-Fi only if asked. */
    val updateSchedule = UpdateSchedule(repository, AndroidNetworkConditions(context), applicationScope).also { it.start() }
}
