package io.hapticmat.app.preview

import androidx.compose.runtime.Composable
import androidx.compose.ui.tooling.preview.Preview
import io.hapticmat.app.ui.live.LiveScreen
import io.hapticmat.app.ui.model.ModelScreen
import io.hapticmat.app.ui.navigation.HapticMatAppShell
import io.hapticmat.app.ui.navigation.TopLevelDestination
import io.hapticmat.app.ui.sample.SampleStates
import io.hapticmat.app.ui.settings.SettingsScreen
import io.hapticmat.app.ui.theme.HapticMatTheme

// Android Studio previews of the stateless screens with the same sample states the host-JVM build
// renders to docs/screenshots/. The screens themselves are platform-free (src/ui); @Preview is not.

@Composable
private fun PreviewFrame(destination: TopLevelDestination, content: @Composable () -> Unit) {
    HapticMatTheme {
        HapticMatAppShell(destination, onNavigate = {}) { content() }
    }
}

@Preview(name = "Live · sitting", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun LiveSittingPreview() = PreviewFrame(TopLevelDestination.Live) {
    LiveScreen(SampleStates.liveSitting, onNoticeAction = {})
}

@Preview(name = "Live · calibrating, posture unclear", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun LiveCalibratingPreview() = PreviewFrame(TopLevelDestination.Live) {
    LiveScreen(SampleStates.liveCalibrating, onNoticeAction = {})
}

@Preview(name = "Live · out of range", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun LiveOutOfRangePreview() = PreviewFrame(TopLevelDestination.Live) {
    LiveScreen(SampleStates.liveOutOfRange, onNoticeAction = {})
}

@Preview(name = "Live · permission denied", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun LivePermissionDeniedPreview() = PreviewFrame(TopLevelDestination.Live) {
    LiveScreen(SampleStates.livePermissionDenied, onNoticeAction = {})
}

@Preview(name = "Live · Bluetooth off", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun LiveBluetoothOffPreview() = PreviewFrame(TopLevelDestination.Live) {
    LiveScreen(SampleStates.liveBluetoothOff, onNoticeAction = {})
}

@Preview(name = "Model · updating", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun ModelUpdatingPreview() = PreviewFrame(TopLevelDestination.Model) {
    ModelScreen(SampleStates.modelUpdating, onUpdateNow = {}, onCancelUpdate = {})
}

@Preview(name = "Model · update failed", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun ModelUpdateFailedPreview() = PreviewFrame(TopLevelDestination.Model) {
    ModelScreen(SampleStates.modelUpdateFailed, onUpdateNow = {}, onCancelUpdate = {})
}

@Preview(name = "Settings · scanning", showBackground = true, widthDp = 360, heightDp = 760)
@Composable
private fun SettingsScanningPreview() = PreviewFrame(TopLevelDestination.Settings) {
    SettingsScreen(SampleStates.settingsScanning, {}, {}, {}, {}, {}, {})
}
