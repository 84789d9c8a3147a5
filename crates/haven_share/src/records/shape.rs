//! What FHIR R4 (4.0.1) says a resource looks like, and the check that refuses a resource that
//! is not what it claims.
//!
//! # What is checked
//!
//! - Every resource (the input itself, each `Bundle.entry[].resource`, and each resource in a
//!   `contained` list) must be a JSON object whose `resourceType` is one of the
//!   [`R4_RESOURCE_TYPES`].
//! - Every resource: `id` is a string; `meta` an object; `implicitRules` and `language`
//!   primitives. Every DomainResource (all but Bundle, Binary and Parameters): `text` an
//!   object; `contained`, `extension` and `modifierExtension` lists of objects.
//! - The types Haven has a typed view for ([`super::Typed`]): every top-level key is an element
//!   R4 defines for the type (choice elements such as `value[x]` only in the forms R4 allows,
//!   `_name` only for a primitive `name`), lists (`0..*`) are JSON arrays (of objects when the
//!   element is complex), single complex elements are objects, single primitives are neither
//!   objects nor arrays. The tables are [`typed_elements`].
//! - Every other type: `identifier` is an array (of objects) where R4 has `identifier 0..*`, an
//!   object where R4 has `0..1` (Bundle, Composition, QuestionnaireResponse, ...). Unknown keys
//!   are not refused there: Haven shows those types generically, as it always has.
//! - A Bundle (at the top or inside an entry): `identifier` and `signature` objects, `link` and
//!   `entry` lists of objects, each entry's `resource` an object.
//!
//! Extensions are not looked into (they are open by design), nor are the elements below the top
//! level of a resource, nor value sets, nor invariants.
//!
//! # What the error says
//!
//! [`Malformed`] names the resource by position ([`ResourcePosition`]) and says which element
//! and what R4 expects there. Element and type names in it come from the tables in this file,
//! never from the input: an unknown key is named only when it is an R4 element name this file
//! knows (`type`, `entry`), else by its index among the resource's keys. The `resourceType`
//! read from the file is quoted only when it is a short ASCII identifier.

use core::fmt;

use serde_json::{Map, Value};

/// Every resource type of FHIR R4 (4.0.1), sorted (so that it can be binary-searched).
pub const R4_RESOURCE_TYPES: &[&str] = &[
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
];

/// The R4 name for `name`, from [`R4_RESOURCE_TYPES`] (so a `'static` one), if it is one.
pub(super) fn r4_type(name: &str) -> Option<&'static str> {
    R4_RESOURCE_TYPES
        .binary_search(&name)
        .ok()
        .map(|i| R4_RESOURCE_TYPES[i])
}

/// Where a refused resource sits in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourcePosition {
    /// Index in `Bundle.entry` (0-based); `None` when it is the input's top-level resource.
    pub entry: Option<usize>,
    /// Index in that resource's `contained` list (0-based), when the refused resource is a
    /// contained one.
    pub contained: Option<usize>,
}

impl ResourcePosition {
    pub(super) const ROOT: Self = Self {
        entry: None,
        contained: None,
    };

    pub(super) fn entry(index: usize) -> Self {
        Self {
            entry: Some(index),
            contained: None,
        }
    }

    fn contained(self, index: usize) -> Self {
        Self {
            contained: Some(index),
            ..self
        }
    }
}

impl fmt::Display for ResourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(entry) => write!(f, "Bundle entry #{entry}")?,
            None => f.write_str("the top-level resource")?,
        }
        if let Some(contained) = self.contained {
            write!(f, ", contained resource #{contained}")?;
        }
        Ok(())
    }
}

/// What R4 expects of an element's JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A JSON array (a `0..*` element).
    List,
    /// A JSON object (a single complex element, or an item of a list of complex elements).
    Object,
    /// A JSON string.
    String,
    /// A JSON string, number or boolean (a single primitive element).
    Primitive,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::List => "a list",
            Self::Object => "an object",
            Self::String => "a string",
            Self::Primitive => "a string, number or boolean",
        })
    }
}

/// An element's name as R4 spells it, from Haven's own tables (never from the input).
pub type ElementName = &'static str;

/// Why a resource is not what it claims. Carries no part of the input: names come from the
/// R4 tables of this module, except a `resourceType` that is a short ASCII identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The resource is not a JSON object.
    NotAnObject,
    /// The resource has no `resourceType` string.
    NoResourceType,
    /// `resourceType` is not a FHIR R4 resource type. `name` is what the file says when that
    /// is a short ASCII identifier (at most 64 characters, a letter then letters, digits or
    /// `_`), else `None`.
    UnknownType {
        /// The type the file claims, when it is safe to show.
        name: Option<String>,
    },
    /// A key that R4 does not define for this type.
    UnknownElement {
        /// The resource's type.
        resource_type: &'static str,
        /// The key, when it is an R4 element name that Haven knows (of another type), else
        /// `None`.
        element: Option<ElementName>,
        /// The key's index among the resource's keys, in input order (0-based).
        index: usize,
    },
    /// An element's JSON is not what R4 says it is.
    WrongKind {
        /// The resource's type.
        resource_type: &'static str,
        /// The element, as R4 names it.
        element: ElementName,
        /// Whether it is the `_`-prefixed companion that carries a primitive's id and
        /// extensions.
        underscore: bool,
        /// The index of the offending item when the element is a list and the list is right
        /// but one of its items is not.
        item: Option<usize>,
        /// What R4 expects there.
        expected: Expected,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("it is not a JSON object"),
            Self::NoResourceType => f.write_str("it has no resourceType"),
            Self::UnknownType { name: Some(name) } => {
                write!(f, "`{name}` is not a FHIR R4 resource type")
            }
            Self::UnknownType { name: None } => {
                f.write_str("its resourceType is not a FHIR R4 resource type (not quoted)")
            }
            Self::UnknownElement {
                resource_type,
                element: Some(element),
                index,
            } => write!(
                f,
                "`{element}` (key #{index}) is not an element of {resource_type}"
            ),
            Self::UnknownElement {
                resource_type,
                element: None,
                index,
            } => write!(f, "key #{index} is not an element of {resource_type}"),
            Self::WrongKind {
                resource_type,
                element,
                underscore,
                item,
                expected,
            } => {
                let underscore = if *underscore { "_" } else { "" };
                match item {
                    Some(item) => write!(
                        f,
                        "{resource_type}.{underscore}{element}[{item}] is not {expected}"
                    ),
                    None => write!(f, "{resource_type}.{underscore}{element} is not {expected}"),
                }
            }
        }
    }
}

/// The JSON shape of an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `0..1`/`1..1` primitive: a string, number or boolean.
    One,
    /// `0..1`/`1..1` complex type: an object.
    Obj,
    /// `0..*` primitive: an array (items not checked; `null` is allowed there).
    Many,
    /// `0..*` complex type: an array of objects.
    Objs,
    /// `Resource.id`: a string.
    Id,
}

use Kind::{Id, Many, Obj, Objs, One};

type Elements = &'static [(&'static str, Kind)];

/// Elements of every Resource.
const RESOURCE: Elements = &[
    ("id", Id),
    ("meta", Obj),
    ("implicitRules", One),
    ("language", One),
];

/// Elements every DomainResource adds.
const DOMAIN_RESOURCE: Elements = &[
    ("text", Obj),
    ("contained", Objs),
    ("extension", Objs),
    ("modifierExtension", Objs),
];

/// R4 types that are Resources but not DomainResources.
const NOT_DOMAIN: &[&str] = &["Binary", "Bundle", "Parameters"];

const PATIENT: Elements = &[
    ("identifier", Objs),
    ("active", One),
    ("name", Objs),
    ("telecom", Objs),
    ("gender", One),
    ("birthDate", One),
    ("deceasedBoolean", One),
    ("deceasedDateTime", One),
    ("address", Objs),
    ("maritalStatus", Obj),
    ("multipleBirthBoolean", One),
    ("multipleBirthInteger", One),
    ("photo", Objs),
    ("contact", Objs),
    ("communication", Objs),
    ("generalPractitioner", Objs),
    ("managingOrganization", Obj),
    ("link", Objs),
];

const CONDITION: Elements = &[
    ("identifier", Objs),
    ("clinicalStatus", Obj),
    ("verificationStatus", Obj),
    ("category", Objs),
    ("severity", Obj),
    ("code", Obj),
    ("bodySite", Objs),
    ("subject", Obj),
    ("encounter", Obj),
    ("onsetDateTime", One),
    ("onsetAge", Obj),
    ("onsetPeriod", Obj),
    ("onsetRange", Obj),
    ("onsetString", One),
    ("abatementDateTime", One),
    ("abatementAge", Obj),
    ("abatementPeriod", Obj),
    ("abatementRange", Obj),
    ("abatementString", One),
    ("recordedDate", One),
    ("recorder", Obj),
    ("asserter", Obj),
    ("stage", Objs),
    ("evidence", Objs),
    ("note", Objs),
];

const OBSERVATION: Elements = &[
    ("identifier", Objs),
    ("basedOn", Objs),
    ("partOf", Objs),
    ("status", One),
    ("category", Objs),
    ("code", Obj),
    ("subject", Obj),
    ("focus", Objs),
    ("encounter", Obj),
    ("effectiveDateTime", One),
    ("effectivePeriod", Obj),
    ("effectiveTiming", Obj),
    ("effectiveInstant", One),
    ("issued", One),
    ("performer", Objs),
    ("valueQuantity", Obj),
    ("valueCodeableConcept", Obj),
    ("valueString", One),
    ("valueBoolean", One),
    ("valueInteger", One),
    ("valueRange", Obj),
    ("valueRatio", Obj),
    ("valueSampledData", Obj),
    ("valueTime", One),
    ("valueDateTime", One),
    ("valuePeriod", Obj),
    ("dataAbsentReason", Obj),
    ("interpretation", Objs),
    ("note", Objs),
    ("bodySite", Obj),
    ("method", Obj),
    ("specimen", Obj),
    ("device", Obj),
    ("referenceRange", Objs),
    ("hasMember", Objs),
    ("derivedFrom", Objs),
    ("component", Objs),
];

const MEDICATION_STATEMENT: Elements = &[
    ("identifier", Objs),
    ("basedOn", Objs),
    ("partOf", Objs),
    ("status", One),
    ("statusReason", Objs),
    ("category", Obj),
    ("medicationCodeableConcept", Obj),
    ("medicationReference", Obj),
    ("subject", Obj),
    ("context", Obj),
    ("effectiveDateTime", One),
    ("effectivePeriod", Obj),
    ("dateAsserted", One),
    ("informationSource", Obj),
    ("derivedFrom", Objs),
    ("reasonCode", Objs),
    ("reasonReference", Objs),
    ("note", Objs),
    ("dosage", Objs),
];

const MEDICATION_REQUEST: Elements = &[
    ("identifier", Objs),
    ("status", One),
    ("statusReason", Obj),
    ("intent", One),
    ("category", Objs),
    ("priority", One),
    ("doNotPerform", One),
    ("reportedBoolean", One),
    ("reportedReference", Obj),
    ("medicationCodeableConcept", Obj),
    ("medicationReference", Obj),
    ("subject", Obj),
    ("encounter", Obj),
    ("supportingInformation", Objs),
    ("authoredOn", One),
    ("requester", Obj),
    ("performer", Obj),
    ("performerType", Obj),
    ("recorder", Obj),
    ("reasonCode", Objs),
    ("reasonReference", Objs),
    ("instantiatesCanonical", Many),
    ("instantiatesUri", Many),
    ("basedOn", Objs),
    ("groupIdentifier", Obj),
    ("courseOfTherapyType", Obj),
    ("insurance", Objs),
    ("note", Objs),
    ("dosageInstruction", Objs),
    ("dispenseRequest", Obj),
    ("substitution", Obj),
    ("priorPrescription", Obj),
    ("detectedIssue", Objs),
    ("eventHistory", Objs),
];

const ALLERGY_INTOLERANCE: Elements = &[
    ("identifier", Objs),
    ("clinicalStatus", Obj),
    ("verificationStatus", Obj),
    ("type", One),
    ("category", Many),
    ("criticality", One),
    ("code", Obj),
    ("patient", Obj),
    ("encounter", Obj),
    ("onsetDateTime", One),
    ("onsetAge", Obj),
    ("onsetPeriod", Obj),
    ("onsetRange", Obj),
    ("onsetString", One),
    ("recordedDate", One),
    ("recorder", Obj),
    ("asserter", Obj),
    ("lastOccurrence", One),
    ("note", Objs),
    ("reaction", Objs),
];

const IMMUNIZATION: Elements = &[
    ("identifier", Objs),
    ("status", One),
    ("statusReason", Obj),
    ("vaccineCode", Obj),
    ("patient", Obj),
    ("encounter", Obj),
    ("occurrenceDateTime", One),
    ("occurrenceString", One),
    ("recorded", One),
    ("primarySource", One),
    ("reportOrigin", Obj),
    ("location", Obj),
    ("manufacturer", Obj),
    ("lotNumber", One),
    ("expirationDate", One),
    ("site", Obj),
    ("route", Obj),
    ("doseQuantity", Obj),
    ("performer", Objs),
    ("note", Objs),
    ("reasonCode", Objs),
    ("reasonReference", Objs),
    ("isSubpotent", One),
    ("subpotentReason", Objs),
    ("education", Objs),
    ("programEligibility", Objs),
    ("fundingSource", Obj),
    ("reaction", Objs),
    ("protocolApplied", Objs),
];

const PROCEDURE: Elements = &[
    ("identifier", Objs),
    ("instantiatesCanonical", Many),
    ("instantiatesUri", Many),
    ("basedOn", Objs),
    ("partOf", Objs),
    ("status", One),
    ("statusReason", Obj),
    ("category", Obj),
    ("code", Obj),
    ("subject", Obj),
    ("encounter", Obj),
    ("performedDateTime", One),
    ("performedPeriod", Obj),
    ("performedString", One),
    ("performedAge", Obj),
    ("performedRange", Obj),
    ("recorder", Obj),
    ("asserter", Obj),
    ("performer", Objs),
    ("location", Obj),
    ("reasonCode", Objs),
    ("reasonReference", Objs),
    ("bodySite", Objs),
    ("outcome", Obj),
    ("report", Objs),
    ("complication", Objs),
    ("complicationDetail", Objs),
    ("followUp", Objs),
    ("note", Objs),
    ("focalDevice", Objs),
    ("usedReference", Objs),
    ("usedCode", Objs),
];

const DIAGNOSTIC_REPORT: Elements = &[
    ("identifier", Objs),
    ("basedOn", Objs),
    ("status", One),
    ("category", Objs),
    ("code", Obj),
    ("subject", Obj),
    ("encounter", Obj),
    ("effectiveDateTime", One),
    ("effectivePeriod", Obj),
    ("issued", One),
    ("performer", Objs),
    ("resultsInterpreter", Objs),
    ("specimen", Objs),
    ("result", Objs),
    ("imagingStudy", Objs),
    ("media", Objs),
    ("conclusion", One),
    ("conclusionCode", Objs),
    ("presentedForm", Objs),
];

const DOCUMENT_REFERENCE: Elements = &[
    ("masterIdentifier", Obj),
    ("identifier", Objs),
    ("status", One),
    ("docStatus", One),
    ("type", Obj),
    ("category", Objs),
    ("subject", Obj),
    ("date", One),
    ("author", Objs),
    ("authenticator", Obj),
    ("custodian", Obj),
    ("relatesTo", Objs),
    ("description", One),
    ("securityLabel", Objs),
    ("content", Objs),
    ("context", Obj),
];

/// The Bundle's own elements (Bundle is a Resource, not a DomainResource). Its keys are not
/// checked against this list (Bundles are written by many servers; Haven reads only `type`
/// and `entry`), only their kinds.
const BUNDLE: Elements = &[
    ("identifier", Obj),
    ("type", One),
    ("timestamp", One),
    ("total", One),
    ("link", Objs),
    ("entry", Objs),
    ("signature", Obj),
];

/// The R4 elements of the types Haven has a typed view for (besides the Resource and
/// DomainResource ones), in the specification's order. Choice elements are listed in each
/// form R4 allows (`onsetDateTime`, `onsetAge`, ...).
fn typed_elements(resource_type: &str) -> Option<Elements> {
    Some(match resource_type {
        "Patient" => PATIENT,
        "Condition" => CONDITION,
        "Observation" => OBSERVATION,
        "MedicationStatement" => MEDICATION_STATEMENT,
        "MedicationRequest" => MEDICATION_REQUEST,
        "AllergyIntolerance" => ALLERGY_INTOLERANCE,
        "Immunization" => IMMUNIZATION,
        "Procedure" => PROCEDURE,
        "DiagnosticReport" => DIAGNOSTIC_REPORT,
        "DocumentReference" => DOCUMENT_REFERENCE,
        _ => return None,
    })
}

/// The types (without a typed view) whose `identifier` is `0..1`: one Identifier object.
const IDENTIFIER_ONE: &[&str] = &[
    "AdverseEvent",
    "Bundle",
    "Composition",
    "ConceptMap",
    "MedicinalProductIngredient",
    "QuestionnaireResponse",
    "SpecimenDefinition",
    "SubstanceSpecification",
    "TestReport",
    "TestScript",
];

/// The types (without a typed view) whose `identifier` is `0..*`: a list of Identifiers.
/// Types that are in neither list have no `identifier` in R4, and their keys are not checked.
const IDENTIFIER_MANY: &[&str] = &[
    "Account",
    "ActivityDefinition",
    "Appointment",
    "AppointmentResponse",
    "Basic",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DocumentManifest",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "InsurancePlan",
    "Invoice",
    "Library",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MessageDefinition",
    "MolecularSequence",
    "NutritionOrder",
    "ObservationDefinition",
    "Organization",
    "OrganizationAffiliation",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Questionnaire",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "StructureDefinition",
    "StructureMap",
    "Substance",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "ValueSet",
    "VisionPrescription",
];

/// Refuses `resource` (at `position`) unless it is an R4 resource of the shape its
/// `resourceType` claims; checks its `contained` resources too. Returns the R4 type name.
pub(super) fn check_resource(
    resource: &Value,
    position: ResourcePosition,
) -> Result<&'static str, (ResourcePosition, Malformed)> {
    let resource_type = check_one(resource).map_err(|why| (position, why))?;
    if !NOT_DOMAIN.contains(&resource_type)
        && let Some(contained) = resource.get("contained").and_then(Value::as_array)
    {
        for (i, inner) in contained.iter().enumerate() {
            check_one(inner).map_err(|why| (position.contained(i), why))?;
        }
    }
    Ok(resource_type)
}

/// [`check_resource`] without the `contained` resources.
fn check_one(resource: &Value) -> Result<&'static str, Malformed> {
    let Some(obj) = resource.as_object() else {
        return Err(Malformed::NotAnObject);
    };
    let Some(claimed) = obj.get("resourceType").and_then(Value::as_str) else {
        return Err(Malformed::NoResourceType);
    };
    let Some(resource_type) = r4_type(claimed) else {
        return Err(Malformed::UnknownType {
            name: safe_type_name(claimed).map(str::to_owned),
        });
    };
    let check = |element, kind| check_kind(obj, resource_type, element, kind);
    for &(element, kind) in RESOURCE {
        check(element, kind)?;
    }
    if !NOT_DOMAIN.contains(&resource_type) {
        for &(element, kind) in DOMAIN_RESOURCE {
            check(element, kind)?;
        }
    }
    if let Some(elements) = typed_elements(resource_type) {
        for (index, key) in obj.keys().enumerate() {
            if key == "resourceType" {
                continue;
            }
            let (name, underscore) = match key.strip_prefix('_') {
                Some(name) => (name, true),
                None => (key.as_str(), false),
            };
            let known = RESOURCE
                .iter()
                .chain(DOMAIN_RESOURCE)
                .chain(elements)
                .find(|(element, _)| *element == name);
            match known {
                // `_name` exists only beside a primitive `name`.
                Some(&(element, kind)) if !underscore || matches!(kind, One | Many | Id) => {
                    check(element, kind)?;
                }
                _ => {
                    return Err(Malformed::UnknownElement {
                        resource_type,
                        element: known_element_name(key),
                        index,
                    });
                }
            }
        }
    } else if resource_type == "Bundle" {
        for &(element, kind) in BUNDLE {
            check(element, kind)?;
        }
        if let Some(entries) = obj.get("entry").and_then(Value::as_array) {
            for (i, entry) in entries.iter().enumerate() {
                if let Some(inner) = entry.get("resource")
                    && !inner.is_object()
                {
                    return Err(Malformed::WrongKind {
                        resource_type,
                        element: "entry",
                        underscore: false,
                        item: Some(i),
                        expected: Expected::Object,
                    });
                }
            }
        }
    } else if IDENTIFIER_MANY.contains(&resource_type) {
        check("identifier", Objs)?;
    } else if IDENTIFIER_ONE.contains(&resource_type) {
        check("identifier", Obj)?;
    }
    Ok(resource_type)
}

/// Checks `element` (and its `_element` companion) in `obj` against `kind`.
fn check_kind(
    obj: &Map<String, Value>,
    resource_type: &'static str,
    element: &'static str,
    kind: Kind,
) -> Result<(), Malformed> {
    let wrong = |underscore, item, expected| Malformed::WrongKind {
        resource_type,
        element,
        underscore,
        item,
        expected,
    };
    if let Some(value) = obj.get(element) {
        match kind {
            Id if !value.is_string() => return Err(wrong(false, None, Expected::String)),
            One if value.is_object() || value.is_array() || value.is_null() => {
                return Err(wrong(false, None, Expected::Primitive));
            }
            Obj if !value.is_object() => return Err(wrong(false, None, Expected::Object)),
            Many if !value.is_array() => return Err(wrong(false, None, Expected::List)),
            Objs => {
                let Some(items) = value.as_array() else {
                    return Err(wrong(false, None, Expected::List));
                };
                if let Some(i) = items.iter().position(|item| !item.is_object()) {
                    return Err(wrong(false, Some(i), Expected::Object));
                }
            }
            _ => {}
        }
    }
    if matches!(kind, One | Many | Id)
        && let Some(value) = obj.get(&format!("_{element}"))
    {
        match kind {
            Many if !value.is_array() => return Err(wrong(true, None, Expected::List)),
            One | Id if !value.is_object() => return Err(wrong(true, None, Expected::Object)),
            _ => {}
        }
    }
    Ok(())
}

/// `name` when it is a near miss of an R4 type name (at most two edits, a swap of two letters
/// counting as one: `Pateint`), else `None`: a value from the file is quoted only when it is
/// plainly a misspelt type, never when it could be anything else (a surname).
fn safe_type_name(name: &str) -> Option<&str> {
    (name.len() <= 64 && name.is_ascii())
        .then_some(())
        .and_then(|()| {
            R4_RESOURCE_TYPES
                .iter()
                .any(|t| edits(name.as_bytes(), t.as_bytes()) <= 2)
                .then_some(name)
        })
}

/// Optimal string alignment distance (insertions, deletions, substitutions, adjacent swaps).
fn edits(a: &[u8], b: &[u8]) -> usize {
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// `key` as a `'static` name when it is an element name in this module's tables (of any
/// type) or an R4 type name, so that an error can name it without quoting the input.
fn known_element_name(key: &str) -> Option<ElementName> {
    let tables = [
        RESOURCE,
        DOMAIN_RESOURCE,
        PATIENT,
        CONDITION,
        OBSERVATION,
        MEDICATION_STATEMENT,
        MEDICATION_REQUEST,
        ALLERGY_INTOLERANCE,
        IMMUNIZATION,
        PROCEDURE,
        DIAGNOSTIC_REPORT,
        DOCUMENT_REFERENCE,
        BUNDLE,
    ];
    tables
        .iter()
        .flat_map(|t| t.iter())
        .map(|&(name, _)| name)
        .chain([
            "resourceType",
            "resource",
            "fullUrl",
            "request",
            "response",
            "search",
        ])
        .find(|name| *name == key)
        .or_else(|| r4_type(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_consistent() {
        assert_eq!(R4_RESOURCE_TYPES.len(), 146);
        assert!(
            R4_RESOURCE_TYPES.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        for list in [IDENTIFIER_ONE, IDENTIFIER_MANY, NOT_DOMAIN] {
            for name in list {
                assert!(r4_type(name).is_some(), "{name} is an R4 type");
            }
        }
        for name in IDENTIFIER_ONE {
            assert!(!IDENTIFIER_MANY.contains(name), "{name} in both");
        }
        for name in R4_RESOURCE_TYPES {
            if let Some(elements) = typed_elements(name) {
                assert!(!IDENTIFIER_ONE.contains(name) && !IDENTIFIER_MANY.contains(name));
                for (i, (element, _)) in elements.iter().enumerate() {
                    assert!(
                        !elements[..i].iter().any(|(e, _)| e == element),
                        "{name}.{element} twice"
                    );
                    assert!(
                        !RESOURCE
                            .iter()
                            .chain(DOMAIN_RESOURCE)
                            .any(|(e, _)| e == element),
                        "{name}.{element} is a common element"
                    );
                }
            }
        }
    }

    #[test]
    fn error_text_names_position_element_and_expectation() {
        let why = Malformed::WrongKind {
            resource_type: "Patient",
            element: "birthDate",
            underscore: true,
            item: None,
            expected: Expected::Object,
        };
        assert_eq!(why.to_string(), "Patient._birthDate is not an object");
        assert_eq!(
            ResourcePosition::entry(3).contained(1).to_string(),
            "Bundle entry #3, contained resource #1"
        );
        assert_eq!(ResourcePosition::ROOT.to_string(), "the top-level resource");
    }
}
