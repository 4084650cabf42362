package io.hapticmat.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.lifecycle.lifecycleScope
import io.hapticmat.app.session.SessionStatus
import io.hapticmat.app.session.SessionViewModel
import io.hapticmat.app.ui.HapticMatApp
import io.hapticmat.app.ui.theme.HapticMatTheme
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlin.time.Duration.Companion.seconds

/** The app's one activity: hosts the Compose UI and closes itself when the session ends for absence. */
class MainActivity : ComponentActivity() {
    private val container: AppContainer get() = (application as HapticMatApplication).container
    private val session: SessionViewModel by viewModels { SessionViewModel.Factory }

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        container.bluetooth.attach(this)

        // Not tied to STARTED: the rule holds in the background too, where nobody is watching the screen.
        lifecycleScope.launch {
            session.status.first { it is SessionStatus.EndedAfterAbsence }
            delay(CLOSE_DELAY)
            finishAndRemoveTask()
        }

        setContent {
            HapticMatTheme {
                HapticMatApp(bluetooth = container.bluetooth, session = session.status)
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

    private companion object {
        /** Long enough to read "Session ended" if the screen is on, short enough not to linger. */
        val CLOSE_DELAY = 5.seconds
    }
}
