package io.hapticmat.app.model

import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import io.hapticmat.app.HapticMatApplication
import io.hapticmat.app.domain.PresenceRepository
import kotlinx.coroutines.flow.StateFlow

/** The Model screen's ViewModel: [ModelStateHolder] in the ViewModel's scope. */
class ModelViewModel(repository: PresenceRepository) : ViewModel() {
    private val holder = ModelStateHolder(repository, viewModelScope)

    /** The screen state. */
    val uiState: StateFlow<ModelUiState> = holder.uiState

    /** Starts an update check unless one runs. */
    fun updateNow() = holder.updateNow()

    /** Stops a running update. */
    fun cancelUpdate() = holder.cancelUpdate()

    /** Benchmarks the phone's models through the core. */
    fun runBenchmark() = holder.runBenchmark()

    /** Builds it from the application's container. */
    companion object {
        /** Factory for `viewModel(factory = …)`. */
        val Factory: ViewModelProvider.Factory = viewModelFactory {
            initializer { ModelViewModel((this[APPLICATION_KEY] as HapticMatApplication).container.repository) }
        }
    }
}
