package io.hapticmat.app.ui

import android.annotation.SuppressLint
import android.bluetooth.BluetoothAdapter
import android.content.Intent
import android.net.Uri
import android.provider.Settings
import androidx.activity.compose.BackHandler
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import io.hapticmat.app.bluetooth.AndroidBluetoothAccess
import io.hapticmat.app.live.LiveRoute
import io.hapticmat.app.model.ModelRoute
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.settings.SettingsRoute
import io.hapticmat.app.ui.navigation.HapticMatAppShell
import io.hapticmat.app.ui.navigation.TopLevelDestination

/**
 * The app's root: top-level navigation between Live, Model and Settings, and what the buttons of
 * notices do on Android (permission prompt, app settings, enabling the radio, going to pairing).
 */
@SuppressLint("MissingPermission") // ACTION_REQUEST_ENABLE is only offered once the permissions are granted.
@Composable
fun HapticMatApp(bluetooth: AndroidBluetoothAccess, modifier: Modifier = Modifier) {
    var destination by rememberSaveable { mutableStateOf(TopLevelDestination.Live) }
    val context = LocalContext.current
    val permissionPrompt = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {
        bluetooth.onPermissionPromptAnswered()
    }
    val enableRadio = rememberLauncherForActivityResult(ActivityResultContracts.StartActivityForResult()) {
        bluetooth.refresh()
    }
    val onNoticeAction: (NoticeAction) -> Unit = { action ->
        when (action) {
            NoticeAction.GrantPermission -> permissionPrompt.launch(bluetooth.requiredPermissions.toTypedArray())
            NoticeAction.OpenAppSettings -> context.startActivity(
                Intent(
                    Settings.ACTION_APPLICATION_DETAILS_SETTINGS,
                    Uri.fromParts("package", context.packageName, null),
                ),
            )
            NoticeAction.EnableBluetooth -> enableRadio.launch(Intent(BluetoothAdapter.ACTION_REQUEST_ENABLE))
            // Location's state broadcast brings the user back to a refreshed state (AndroidBluetoothAccess).
            NoticeAction.EnableLocation -> context.startActivity(Intent(Settings.ACTION_LOCATION_SOURCE_SETTINGS))
            NoticeAction.PairMat -> destination = TopLevelDestination.Settings
        }
    }

    // Back from Model or Settings returns to Live; back on Live leaves the app, as with any top level.
    BackHandler(enabled = destination != TopLevelDestination.Live) { destination = TopLevelDestination.Live }

    HapticMatAppShell(destination, onNavigate = { destination = it }, modifier = modifier) { current ->
        when (current) {
            TopLevelDestination.Live -> LiveRoute(onNoticeAction)
            TopLevelDestination.Model -> ModelRoute()
            TopLevelDestination.Settings -> SettingsRoute(onNoticeAction)
        }
    }
}
