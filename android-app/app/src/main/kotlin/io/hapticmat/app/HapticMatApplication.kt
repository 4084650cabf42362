package io.hapticmat.app

import android.app.Application

/** Holds the app's object graph for the process; ViewModel factories read it. */
class HapticMatApplication : Application() {
    /** Built in [onCreate], after the native libraries are loaded. */
    lateinit var container: AppContainer
        private set

    override fun onCreate() {
        super.onCreate()
        container = AppContainer(this)
    }
}
