package io.hapticmat.app

import android.app.Application
import io.hapticmat.app.session.SessionHost
import io.hapticmat.app.session.SessionHostOwner

/** Holds the app's object graph for the process; ViewModel factories and PresenceService read it. */
class HapticMatApplication : Application(), SessionHostOwner {
    /** Built in [onCreate], after the native libraries are loaded. */
    lateinit var container: AppContainer
        private set

    override val sessionHost: SessionHost get() = container.sessionHost

    override fun onCreate() {
        super.onCreate()
        container = AppContainer(this)
    }
}
