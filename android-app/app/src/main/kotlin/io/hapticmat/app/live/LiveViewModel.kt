package io.hapticmat.app.live

import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import io.hapticmat.app.HapticMatApplication
import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.session.SessionHost
import kotlinx.coroutines.flow.StateFlow

/** The Live screen's ViewModel: [LiveStateHolder] in the ViewModel's scope. */
class LiveViewModel(
    repository: PresenceRepository,
    bluetooth: BluetoothAccess,
    session: SessionHost,
) : ViewModel() {
    // The chart's history is the process's (SessionHost), so it survives leaving this screen.
    private val holder = LiveStateHolder(repository, bluetooth, session.status, viewModelScope, history = session.history)

    /** The screen state. */
    val uiState: StateFlow<LiveUiState> = holder.uiState

    /** "Calibrate me": measures the user lying fully on the mat and stores it for this mat. */
    fun calibrateMe() = holder.calibrateMe()

    /** Builds it from the application's container. */
    companion object {
        /** A factory over the application's session. */
        val Factory: ViewModelProvider.Factory = viewModelFactory {
            initializer {
                val container = (this[APPLICATION_KEY] as HapticMatApplication).container
                LiveViewModel(container.repository, container.bluetooth, container.sessionHost)
            }
        }
    }
}
