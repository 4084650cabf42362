package io.hapticmat.app.bluetooth

import android.annotation.SuppressLint
import android.app.Activity
import android.bluetooth.BluetoothAdapter
import android.bluetooth.BluetoothManager
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.content.pm.PackageManager
import android.location.LocationManager
import android.os.Build
import androidx.core.app.ActivityCompat
import androidx.core.content.ContextCompat
import androidx.core.content.edit
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import java.lang.ref.WeakReference

/**
 * [BluetoothAccess] from the Android framework: runtime permissions, whether the prompt was shown
 * before (remembered in preferences), and the radio (followed through its state broadcast). The rules
 * themselves are [BluetoothPermissions], tested on the host JVM.
 */
class AndroidBluetoothAccess(context: Context) : BluetoothAccess {
    private val appContext = context.applicationContext
    private val prefs = appContext.getSharedPreferences(PREFERENCES, Context.MODE_PRIVATE)
    private val adapter: BluetoothAdapter? = appContext.getSystemService(BluetoothManager::class.java)?.adapter
    private val hasBluetoothLe =
        adapter != null && appContext.packageManager.hasSystemFeature(PackageManager.FEATURE_BLUETOOTH_LE)
    private var activity: WeakReference<Activity>? = null
    private val state = MutableStateFlow(read())

    private val radioReceiver = object : BroadcastReceiver() {
        override fun onReceive(context: Context, intent: Intent) = refresh()
    }

    init {
        // The radio's state broadcast is a system broadcast, delivered to a non-exported receiver too.
        ContextCompat.registerReceiver(
            appContext,
            radioReceiver,
            IntentFilter(BluetoothAdapter.ACTION_STATE_CHANGED).apply {
                // API 26–30 scans need Location on: follow its switch too.
                addAction(LocationManager.PROVIDERS_CHANGED_ACTION)
            },
            ContextCompat.RECEIVER_NOT_EXPORTED,
        )
    }

    override val availability: StateFlow<BluetoothAvailability> = state.asStateFlow()

    /** The runtime permissions to request on this device. */
    val requiredPermissions: List<String> get() = BluetoothPermissions.required(Build.VERSION.SDK_INT)

    /** Lets permission-rationale checks use [activity] (only an activity can answer them); held weakly. */
    fun attach(activity: Activity) {
        this.activity = WeakReference(activity)
        refresh()
    }

    /** Forgets [activity] when it is destroyed. */
    fun detach(activity: Activity) {
        if (this.activity?.get() === activity) this.activity = null
    }

    /** Records that the system prompt was answered, then re-reads the state. */
    fun onPermissionPromptAnswered() {
        prefs.edit { putBoolean(KEY_ASKED, true) }
        refresh()
    }

    override fun refresh() {
        state.value = read()
    }

    // isEnabled needs no runtime permission: BLUETOOTH is install-time up to API 30, and none is needed after.
    @SuppressLint("MissingPermission")
    private fun read(): BluetoothAvailability {
        val current = activity?.get()
        return BluetoothPermissions.availability(
            sdkInt = Build.VERSION.SDK_INT,
            hasBluetoothLe = hasBluetoothLe,
            radioOn = adapter?.isEnabled == true,
            askedBefore = prefs.getBoolean(KEY_ASKED, false),
            locationOn = locationOn(),
            granted = { ContextCompat.checkSelfPermission(appContext, it) == PackageManager.PERMISSION_GRANTED },
            // Without an activity Android cannot tell; assume the prompt may still be shown. At worst the
            // button's prompt is declined by the system at once and the answer corrects the state.
            shouldShowRationale = { permission ->
                current?.let { ActivityCompat.shouldShowRequestPermissionRationale(it, permission) } ?: true
            },
        )
    }

    /** Whether Location is switched on (only asked where BLE scans need it: API 26–30). */
    private fun locationOn(): Boolean {
        if (!BluetoothPermissions.needsLocation(Build.VERSION.SDK_INT)) return true
        val location = appContext.getSystemService(LocationManager::class.java) ?: return true
        // isLocationEnabled is API 28+; on 26–27 either provider on counts.
        return if (Build.VERSION.SDK_INT >= 28) {
            location.isLocationEnabled
        } else {
            location.isProviderEnabled(LocationManager.GPS_PROVIDER) ||
                location.isProviderEnabled(LocationManager.NETWORK_PROVIDER)
        }
    }

    private companion object {
        const val PREFERENCES = "bluetooth_access"
        const val KEY_ASKED = "permission_prompt_answered"
    }
}
