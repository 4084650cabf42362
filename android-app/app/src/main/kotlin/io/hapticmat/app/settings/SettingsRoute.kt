package io.hapticmat.app.settings

import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.ui.settings.SettingsScreen

/** The stateful Settings screen: collects [SettingsViewModel]'s state into the stateless [SettingsScreen]. */
@Composable
fun SettingsRoute(
    onNoticeAction: (NoticeAction) -> Unit,
    modifier: Modifier = Modifier,
    viewModel: SettingsViewModel = viewModel(factory = SettingsViewModel.Factory),
) {
    val uiState by viewModel.uiState.collectAsStateWithLifecycle()
    SettingsScreen(
        uiState,
        onScan = viewModel::startScan,
        onStopScan = viewModel::stopScan,
        onPair = viewModel::pair,
        onCalibrate = viewModel::calibrate,
        onAbsenceTimeoutChange = viewModel::setAbsenceTimeout,
        onNoticeAction = onNoticeAction,
        modifier = modifier,
        onUpdateOnWifiOnlyChange = viewModel::setUpdateOnWifiOnly,
    )
}
