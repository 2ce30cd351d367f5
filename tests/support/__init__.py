"""Test support shared by the whole suite: a scripted model server and wire-payload builders."""
