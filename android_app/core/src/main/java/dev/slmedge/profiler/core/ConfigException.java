package dev.slmedge.profiler.core;

/** A run config the app cannot run: the message names the field and what is wrong with it. */
public final class ConfigException extends Exception {
    public ConfigException(String message) {
        super(message);
    }
}
