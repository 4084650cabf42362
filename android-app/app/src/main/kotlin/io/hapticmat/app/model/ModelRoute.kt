package io.hapticmat.app.model

import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.hapticmat.app.ui.model.ModelScreen

/** The stateful Model screen: collects [ModelViewModel]'s state into the stateless [ModelScreen]. */
@Composable
fun ModelRoute(modifier: Modifier = Modifier, viewModel: ModelViewModel = viewModel(factory = ModelViewModel.Factory)) {
    val uiState by viewModel.uiState.collectAsStateWithLifecycle()
    ModelScreen(
        uiState,
        onUpdateNow = viewModel::updateNow,
        onCancelUpdate = viewModel::cancelUpdate,
        modifier,
        onRunBenchmark = viewModel::runBenchmark,
    )
}
