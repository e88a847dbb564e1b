package dev.slmedge.profiler;

import android.content.Context;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.slmedge.profiler.core.Contract;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;

/**
 * The APK's own identity, read from the asset app/build.gradle.kts generates (package, versions,
 * trace schema, ABIs, the runtimes it links and their features): the one source for the host's
 * pre-install check, the `-e query identity` answer and the trace's software block, so the three
 * can never disagree.
 */
final class AppIdentity {
    /** The asset's name inside assets/ (Contract.APP_INFO_ASSET is its path in the APK). */
    static final String ASSET = Contract.APP_INFO_ASSET.substring("assets/".length());

    private final JsonObject json;

    private AppIdentity(JsonObject json) {
        this.json = json;
    }

    /** Where the asset comes from: the APK's assets on a phone. */
    interface Source {
        InputStream open() throws IOException;
    }

    /** This APK's asset. */
    static Source assets(Context context) {
        return () -> context.getAssets().open(ASSET);
    }

    /** Reads the asset; IOException names it when the APK lacks it or it is not a JSON object. */
    static AppIdentity read(Source source) throws IOException {
        try (InputStream in = source.open();
             Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8)) {
            JsonElement parsed = JsonParser.parseReader(reader);
            if (!parsed.isJsonObject()) {
                throw new IOException(Contract.APP_INFO_ASSET + " is not a JSON object");
            }
            return new AppIdentity(parsed.getAsJsonObject());
        } catch (RuntimeException malformed) { // Gson's JsonParseException
            throw new IOException(Contract.APP_INFO_ASSET + " is not valid JSON: " + malformed.getMessage(), malformed);
        }
    }

    /** The identity, or one whose fields all read "unknown" when the asset cannot be read. */
    static AppIdentity readOrUnknown(Source source) {
        try {
            return read(source);
        } catch (IOException e) {
            return new AppIdentity(new JsonObject());
        }
    }

    /** The whole asset as one line of JSON: `am instrument -r` prints one key=value per line. */
    String oneLine() {
        return json.toString();
    }

    String versionName() {
        return string(json, "version_name");
    }

    String versionCode() {
        return string(json, "version_code");
    }

    /** The version of a runtime the APK links ("executorch", "onnxruntime"), or "unknown". */
    String runtime(String name) {
        JsonElement runtimes = json.get("runtimes");
        return runtimes != null && runtimes.isJsonObject() ? string(runtimes.getAsJsonObject(), name) : "unknown";
    }

    private static String string(JsonObject object, String key) {
        JsonElement value = object.get(key);
        return value != null && value.isJsonPrimitive() ? value.getAsString() : "unknown";
    }
}
