package io.hapticmat.app

import android.Manifest
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.result.contract.ActivityResultContracts
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.service.PresenceService
import io.hapticmat.app.ui.HapticMatApp
import io.hapticmat.app.ui.theme.HapticMatTheme
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlin.time.Duration.Companion.seconds

/**
 * The app's one activity: hosts the Compose UI, starts the foreground service that owns the session
 * (PresenceService), and closes itself when the session is over (absence timeout, or Stop in the
 * notification).
 */
class MainActivity : ComponentActivity() {
    private val container: AppContainer get() = (application as HapticMatApplication).container

    private val notificationPrompt = registerForActivityResult(ActivityResultContracts.RequestPermission()) {}

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        container.bluetooth.attach(this)

        // The service holds the session. Started while the activity is visible (Android 12+ refuses a
        // foreground start from the background) and once Bluetooth is usable: Android 14 refuses a
        // connectedDevice service without the Bluetooth permission. A finished session is final.
        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) {
                container.bluetooth.availability.first { it == BluetoothAvailability.Ready }
                if (!container.sessionHost.status.value.isFinal) PresenceService.start(this@MainActivity)
            }
        }
        askForNotificationsOnce()

        lifecycleScope.launch {
            container.sessionHost.status.first { it.isFinal }
            delay(CLOSE_DELAY)
            finishAndRemoveTask()
        }

        setContent {
            HapticMatTheme {
                HapticMatApp(bluetooth = container.bluetooth)
            }
        }
    }

    override fun onResume() {
        super.onResume()
        // The person may have granted a permission or switched the radio in system settings meanwhile.
        container.bluetooth.refresh()
    }

    override fun onDestroy() {
        container.bluetooth.detach(this)
        super.onDestroy()
    }

    /** Android 13+: the session's notification needs POST_NOTIFICATIONS; asked once, never insisted on. */
    private fun askForNotificationsOnce() {
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.TIRAMISU) return
        if (checkSelfPermission(Manifest.permission.POST_NOTIFICATIONS) == PackageManager.PERMISSION_GRANTED) return
        val prefs = getSharedPreferences(PREFERENCES, MODE_PRIVATE)
        if (prefs.getBoolean(KEY_NOTIFICATIONS_ASKED, false)) return
        prefs.edit().putBoolean(KEY_NOTIFICATIONS_ASKED, true).apply()
        notificationPrompt.launch(Manifest.permission.POST_NOTIFICATIONS)
    }

    private companion object {
        /** Long enough to read "Session ended" if the screen is on, short enough not to linger. */
        val CLOSE_DELAY = 5.seconds
        const val PREFERENCES = "main_activity"
        const val KEY_NOTIFICATIONS_ASKED = "notifications_asked"
    }
}
