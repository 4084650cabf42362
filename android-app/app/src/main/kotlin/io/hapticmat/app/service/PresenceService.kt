package io.hapticmat.app.service

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.Service
import android.content.Context
import android.content.Intent
import android.content.pm.ServiceInfo
import android.os.Binder
import android.os.Build
import android.os.IBinder
import io.hapticmat.app.session.SessionHost
import io.hapticmat.app.session.SessionHostOwner
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch

/**
 * The foreground service (type `connectedDevice`) that owns the monitoring session while the app is out
 * of sight: without it Android caches and freezes the app once its activity leaves the screen, the core's
 * threads and the absence timer stall, and the session never stops. It starts the process's
 * [SessionHost], keeps an ongoing notification with the live state and a Stop action, and stops itself
 * once the session is over (absence timeout or Stop), with the screen off as well as on.
 *
 * Framework classes only (no AndroidX), so it compiles against android-all and runs under Robolectric
 * here (android-app/app/android-check). The Application must implement [SessionHostOwner].
 */
class PresenceService : Service() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main.immediate)
    private lateinit var host: SessionHost

    /** What a bound screen gets: the same session the notification shows. */
    inner class LocalBinder : Binder() {
        /** The process's session. */
        val sessionHost: SessionHost get() = host
    }

    override fun onCreate() {
        super.onCreate()
        host = (application as SessionHostOwner).sessionHost
        val notifications = getSystemService(NotificationManager::class.java)
        notifications.createNotificationChannel(
            NotificationChannel(CHANNEL_ID, "Presence session", NotificationManager.IMPORTANCE_LOW).apply {
                description = "Shows who is on the mat while HapticMat watches it, with a Stop button."
                setShowBadge(false)
            },
        )
        // Foreground within 5 s of startForegroundService, with the type the manifest declares.
        val first = build(host.notification.value)
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            startForeground(NOTIFICATION_ID, first, ServiceInfo.FOREGROUND_SERVICE_TYPE_CONNECTED_DEVICE)
        } else {
            startForeground(NOTIFICATION_ID, first)
        }
        host.start()
        scope.launch {
            host.notification.collect { content -> notifications.notify(NOTIFICATION_ID, build(content)) }
        }
        scope.launch {
            host.status.first { it.isFinal }
            // The last words stay in the shade (detached, dismissible): the user sees why it stopped.
            stopForeground(STOP_FOREGROUND_DETACH)
            notifications.notify(NOTIFICATION_ID, build(host.notification.value))
            stopSelf()
        }
    }

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        if (intent?.action == ACTION_STOP) host.stopByUser()
        // Not restarted after the process is killed: a session is started by the person, not by the system.
        return START_NOT_STICKY
    }

    override fun onBind(intent: Intent?): IBinder = LocalBinder()

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    private fun build(content: SessionNotification): Notification {
        val builder = Notification.Builder(this, CHANNEL_ID)
            .setSmallIcon(android.R.drawable.stat_sys_data_bluetooth)
            .setContentTitle(content.title)
            .setContentText(content.text)
            .setStyle(Notification.BigTextStyle().bigText(content.text))
            .setCategory(Notification.CATEGORY_SERVICE)
            .setOngoing(content.offersStop)
            .setOnlyAlertOnce(true)
            .setShowWhen(false)
        packageManager.getLaunchIntentForPackage(packageName)?.let { open ->
            builder.setContentIntent(PendingIntent.getActivity(this, 0, open, PendingIntent.FLAG_IMMUTABLE))
        }
        if (content.offersStop) {
            val stop = PendingIntent.getService(
                this,
                0,
                Intent(this, PresenceService::class.java).setAction(ACTION_STOP),
                PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
            )
            builder.addAction(Notification.Action.Builder(null, "Stop", stop).build())
        }
        return builder.build()
    }

    /** Starting it and its names. */
    companion object {
        /** The notification channel (importance low: no sound, no heads-up). */
        const val CHANNEL_ID = "presence_session"

        /** The ongoing notification's id. */
        const val NOTIFICATION_ID = 1

        /** The Stop action's intent action. */
        const val ACTION_STOP = "io.hapticmat.app.action.STOP_SESSION"

        /** Starts the service in the foreground; call while the app is visible (Android 12+ refuses otherwise). */
        fun start(context: Context) {
            context.startForegroundService(Intent(context, PresenceService::class.java))
        }
    }
}
