package io.hapticmat.app.live

import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.session.SessionStatus
import io.hapticmat.app.ui.live.LiveScreen
import kotlinx.coroutines.flow.StateFlow

/** The stateful Live screen: collects [LiveViewModel]'s state into the stateless [LiveScreen]. */
@Composable
fun LiveRoute(
    session: StateFlow<SessionStatus>,
    onNoticeAction: (NoticeAction) -> Unit,
    modifier: Modifier = Modifier,
    viewModel: LiveViewModel = viewModel(factory = LiveViewModel.factory(session)),
) {
    val uiState by viewModel.uiState.collectAsStateWithLifecycle()
    LiveScreen(uiState, onNoticeAction, modifier, onCalibrateMe = viewModel::calibrateMe)
}
