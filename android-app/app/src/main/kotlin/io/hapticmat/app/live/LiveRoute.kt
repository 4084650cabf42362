package io.hapticmat.app.live

import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.ui.live.LiveScreen

/** The stateful Live screen: collects [LiveViewModel]'s state into the stateless [LiveScreen]. */
@Composable
fun LiveRoute(
    onNoticeAction: (NoticeAction) -> Unit,
    modifier: Modifier = Modifier,
    viewModel: LiveViewModel = viewModel(factory = LiveViewModel.Factory),
) {
    val uiState by viewModel.uiState.collectAsStateWithLifecycle()
    LiveScreen(uiState, onNoticeAction, modifier, onCalibrateMe = viewModel::calibrateMe)
}
