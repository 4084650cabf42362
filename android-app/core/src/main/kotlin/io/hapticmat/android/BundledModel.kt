package io.hapticmat.android

import android.content.Context
import android.content.res.AssetManager
import java.io.File
import java.io.IOException

/**
 * The signed baseline model an app carries in its assets (`assets/bundled-model/`: a folder laid out by
 * `pipeline publish` — `latest.json`, `history/`, `models/`), for the first run with no network. The
 * files are copied out of the APK (the core reads a store from a folder) and then installed with
 * `ModelUpdates.installBundled`, verified against the app's pinned keys like any update.
 */
object BundledModel {
    /** The assets folder the build puts the bundle in (android-app/app/build.gradle.kts, `hapticmat.bundledModel`). */
    const val ASSET_DIR = "bundled-model"

    /**
     * Copies the bundle out of the APK into `noBackupFilesDir/bundled-model` (replacing an older copy: a
     * new app version may carry a newer model) and returns that folder, or null when the app carries no
     * bundle. File I/O: call off the main thread. Each file is written to a temporary name and renamed,
     * so a copy interrupted by the process dying is never read as whole.
     */
    @Throws(IOException::class)
    fun unpack(context: Context): File? {
        val assets = context.assets
        if (assets.list(ASSET_DIR).isNullOrEmpty()) return null
        val target = File(context.noBackupFilesDir, ASSET_DIR)
        target.deleteRecursively()
        copy(assets, ASSET_DIR, target)
        return target
    }

    private fun copy(assets: AssetManager, path: String, to: File) {
        val children = assets.list(path).orEmpty()
        if (children.isEmpty()) {
            to.parentFile?.mkdirs()
            val partial = File(to.parentFile, ".${to.name}.part")
            assets.open(path).use { input -> partial.outputStream().use { input.copyTo(it) } }
            if (!partial.renameTo(to)) throw IOException("cannot move ${partial.name} into place")
            return
        }
        to.mkdirs()
        for (child in children) copy(assets, "$path/$child", File(to, child))
    }
}
