"""Job registry: explicit names, allow-listed modules, and nothing else."""

from __future__ import annotations

import pytest

from pyresque import ConfigurationError, JobNotRegistered, JobRegistry, UnknownJobClass
from tests import jobs


def test_registered_class_resolves_by_its_resque_name() -> None:
    """A class registered as 'Foo::Bar' resolves from that string, and names back to it."""
    reg = JobRegistry()
    reg.register(jobs.Add, name="Foo::Bar")
    assert reg.resolve("Foo::Bar") is jobs.Add
    assert reg.name_for(jobs.Add) == "Foo::Bar"


def test_decorator_form_registers_under_the_given_name() -> None:
    """@register(name=...) registers the decorated callable and returns it unchanged."""
    reg = JobRegistry()

    @reg.register(name="My_Job")
    def task() -> None:
        """A job."""

    assert reg.resolve("My_Job") is task
    assert reg.name_for(task) == "My_Job"


def test_local_functions_need_an_explicit_name() -> None:
    """A function defined inside another has no importable name: register it with name=."""
    reg = JobRegistry()

    def local() -> None:
        """A job."""

    with pytest.raises(ConfigurationError):
        reg.register(local)
    reg.register(local, name="local_job")
    assert reg.resolve("local_job") is local


def test_module_level_function_gets_dotted_name() -> None:
    """A module-level function registers as 'tests.jobs.noop'."""
    reg = JobRegistry()
    reg.register(jobs.noop)
    assert reg.names() == ["tests.jobs.noop"]


def test_unregistered_names_never_import_arbitrary_modules() -> None:
    """A payload naming os.system does not resolve without an allow-list."""
    reg = JobRegistry()
    with pytest.raises(UnknownJobClass):
        reg.resolve("os.system")
    with pytest.raises(UnknownJobClass):
        reg.resolve("tests.jobs.Add")


def test_allow_listed_module_resolves_dotted_names_only_inside_it() -> None:
    """allow_modules=['tests.jobs'] resolves tests.jobs.Add but not os.system."""
    reg = JobRegistry(allow_modules=["tests.jobs"])
    assert reg.resolve("tests.jobs.Add") is jobs.Add
    assert reg.name_for(jobs.Echo) == "tests.jobs.Echo"
    with pytest.raises(UnknownJobClass):
        reg.resolve("os.system")
    with pytest.raises(UnknownJobClass):
        reg.resolve("tests.jobs.DoesNotExist")


def test_unregistered_callable_cannot_be_enqueued_by_object() -> None:
    """name_for refuses a callable no registry or allow-list names."""
    with pytest.raises(JobNotRegistered):
        JobRegistry().name_for(jobs.Add)


def test_a_name_cannot_be_taken_twice() -> None:
    """Registering a second callable under a used name raises."""
    reg = JobRegistry()
    reg.register(jobs.Add, name="Same")
    reg.register(jobs.Add, name="Same")  # the same object again is fine
    with pytest.raises(ConfigurationError):
        reg.register(jobs.Echo, name="Same")
