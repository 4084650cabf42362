package io.hapticmat.app.session

import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import io.hapticmat.app.HapticMatApplication
import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.domain.PresenceRepository
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.launch

/**
 * The monitoring session for as long as the activity lives (across rotations): a [SessionController]
 * in the ViewModel's scope. When the activity finishes for good the session is stopped.
 */
class SessionViewModel(
    private val repository: PresenceRepository,
    bluetooth: BluetoothAccess,
    private val applicationScope: CoroutineScope,
) : ViewModel() {
    private val controller = SessionController(repository, bluetooth, viewModelScope).also { it.start() }

    /** The session's state; [SessionStatus.EndedAfterAbsence] closes the app. */
    val status: StateFlow<SessionStatus> = controller.status

    override fun onCleared() {
        // viewModelScope is already cancelled here; stopping must outlive it.
        applicationScope.launch { repository.stopSession() }
    }

    /** Builds it from the application's container. */
    companion object {
        /** Factory for `by viewModels { … }`. */
        val Factory: ViewModelProvider.Factory = viewModelFactory {
            initializer {
                val container = (this[APPLICATION_KEY] as HapticMatApplication).container
                SessionViewModel(container.repository, container.bluetooth, container.applicationScope)
            }
        }
    }
}
