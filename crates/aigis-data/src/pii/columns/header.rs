//! What a column's header says: the words for names, dates of birth, addresses, postal
//! codes, person identifiers and quasi-identifiers in English, French, Spanish, German,
//! Italian, Portuguese, Dutch, Polish and the Nordic languages, folded to ASCII
//! (`prénom` → `prenom`).

use super::super::names::fold;
use super::super::{PiiKind, split_words};

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Says {
    /// A person's name; `Some` when it says which part.
    Name(Option<PiiKind>, Strength),
    Birth,
    Address,
    Postal,
    Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strength {
    /// `name`, `nombre`, `nom`: often a person's, not always.
    Weak,
    Strong,
}

#[derive(Debug, Default)]
pub(super) struct Header {
    pub says: Option<Says>,
    pub word: String,
    /// The header names something that is not a person or an address.
    pub veto: bool,
}

/// Words that, beside `name` or alone, say a column is about something other than a
/// person (in English, French, Spanish, German, Italian, Dutch).
#[rustfmt::skip]
const NOT_PERSON: &[&str] = &[
    "product", "company", "file", "filename", "city", "town", "country", "street", "model",
    "brand", "item", "host", "hostname", "domain", "team", "org", "organization",
    "organisation", "store", "shop", "category", "species", "dataset", "column", "feature",
    "label", "business", "bank", "school", "hospital", "drug", "song", "album", "movie", "film",
    "book", "title", "project", "app", "application", "server", "device", "table", "field",
    "event", "department", "dept", "place", "region", "state", "county", "district", "village",
    "site", "venue", "hotel", "restaurant", "variable", "class", "type", "color", "colour",
    "breed", "pet", "animal", "plant", "disease", "diagnosis", "condition", "medication",
    "ingredient", "recipe", "game", "course", "vendor", "supplier", "merchant", "manufacturer",
    "employer", "university", "college", "airport", "airline", "station", "channel", "network",
    "service", "plan", "package", "method", "function", "module", "tag", "role", "group",
    "username", "login", "screen", "nick", "nickname", "handle", "alias", "account",
    "occupation", "job", "workclass", "race", "ethnicity", "religion", "language",
    "nationality", "native", "produit", "entreprise", "societe", "ville", "pays", "fichier",
    "article", "marque", "modele", "producto", "empresa", "ciudad", "pais", "archivo", "marca",
    "modelo", "articulo", "produkt", "firma", "stadt", "ort", "land", "datei", "marke",
    "modell", "artikel", "prodotto", "azienda", "citta", "paese", "modello", "articolo",
    "bedrijf", "stad", "bestand", "merk", "email", "mail", "ip", "mac", "url", "web", "wallet",
    "bitcoin", "btc", "eth", "contract", "memory",
];

#[rustfmt::skip]
const GIVEN_WORDS: &[&str] = &[
    "firstname", "fname", "givenname", "given", "forename", "forenames", "christian", "prenom",
    "prenoms", "vorname", "vornamen", "voornaam", "voornamen", "fornavn", "fornamn", "etunimi",
    "imie", "middle", "middlename", "primernombre", "nombrepila", "jmeno", "keresztnev",
    "имя", "отчество", "名",
];
#[rustfmt::skip]
const FAMILY_WORDS: &[&str] = &[
    "lastname", "lname", "surname", "surnames", "familyname", "maiden", "maidenname",
    "nachname", "familienname", "zuname", "apellido", "apellidos", "cognome", "achternaam",
    "sobrenome", "apelido", "nazwisko", "efternamn", "etternavn", "sukunimi", "soyadi",
    "prijmeni", "vezeteknev", "фамилия", "прізвище", "姓", "苗字",
];
#[rustfmt::skip]
const FULL_WORDS: &[&str] = &[
    "fullname", "nomcomplet", "nombrecompleto", "nomecompleto", "vollername",
    "vollstandigername", "volledigenaam", "adsoyad", "фио", "姓名", "氏名",
];
/// Words that make `name` a person's name (`customer_name`, `patient name`).
#[rustfmt::skip]
const PERSON_WORDS: &[&str] = &[
    "full", "person", "people", "patient", "customer", "client", "employee", "member",
    "student", "contact", "owner", "holder", "cardholder", "applicant", "defendant",
    "passenger", "guest", "recipient", "sender", "beneficiary", "insured", "subscriber",
    "driver", "voter", "citizen", "resident", "tenant", "buyer", "victim", "suspect", "witness",
    "author", "teacher", "doctor", "physician", "nurse", "user", "manager", "father", "mother",
    "parent", "child", "spouse", "emergency", "legal", "display",
];
const GENERIC_NAME: &[&str] = &[
    "name", "names", "nombre", "nombres", "nome", "naam", "navn", "namn", "nimi", "nom",
];
#[rustfmt::skip]
pub(super) const BIRTH_STEMS: &[&str] = &[
    "birth", "bday", "geburt", "nacimiento", "naissance", "nascita", "geboorte", "nascimento",
    "fodsel", "fodelse", "syntyma", "urodzenia",
];
pub(super) const PLACE_WORDS: &[&str] = &[
    "place", "city", "country", "lieu", "lugar", "ort", "luogo", "plaats", "county", "state",
    "town", "land", "pays", "pais", "paese", "ciudad", "ville", "citta", "location",
];
#[rustfmt::skip]
const ADDRESS_STEMS: &[&str] = &[
    "address", "adresse", "adress", "street", "anschrift", "strasse", "direccion", "domicilio",
    "indirizzo", "endereco", "morada", "adres", "straat", "adresa", "ulica", "calle", "адрес", "住所", "地址",
];
#[rustfmt::skip]
pub(super) const POSTAL_WORDS: &[&str] = &[
    "zip", "zipcode", "zip5", "postcode", "postal", "postalcode", "plz", "postleitzahl", "cp",
    "codepostal", "codigopostal", "postnummer", "postnr", "postinumero", "eircode", "pincode",
    "cep", "kodpocztowy",
];
#[rustfmt::skip]
const ID_OWNERS: &[&str] = &[
    "case", "docket", "patient", "person", "customer", "client", "member", "employee", "emp",
    "staff", "student", "pupil", "user", "account", "acct", "passport", "license", "licence",
    "national", "citizen", "voter", "taxpayer", "tax", "inmate", "booking", "offender",
    "subject", "participant", "applicant", "beneficiary", "policy", "insured", "subscriber",
    "driver", "badge", "medical", "health", "insurance", "social", "pid", "passenger",
    "borrower", "cust", "guest", "resident", "tenant", "buyer", "visitor", "victim", "suspect",
    "defendant", "prisoner", "detainee",
];
#[rustfmt::skip]
const ID_WORDS: &[&str] = &[
    "id", "number", "no", "nr", "num", "nbr", "code", "identifier", "key", "ref", "reference",
    "nummer", "numero",
];
#[rustfmt::skip]
const ID_JOINED: &[&str] = &[
    "casenumber", "caseno", "casenum", "personid", "patientid", "customerid", "clientid",
    "memberid", "employeeid", "studentid", "userid", "mrn", "dni", "nie", "nif", "cpf", "curp",
    "bsn", "pesel", "nino", "nhsnumber", "passport", "passportno", "ein", "empno", "custno",
    "custid", "passengerid",
];

pub(super) fn header(name: &str) -> Header {
    let words: Vec<String> = split_words(name)
        .iter()
        .map(|w| fold(w).unwrap_or_else(|| w.clone()))
        .collect();
    let joined: String = words.concat();
    let has = |list: &[&str]| words.iter().find(|w| list.contains(&w.as_str())).cloned();
    let mut h = Header {
        veto: has(NOT_PERSON).is_some(),
        ..Header::default()
    };
    let set = |h: &mut Header, says: Says, word: &str| {
        h.says = Some(says);
        h.word = word.to_owned();
    };
    if let Some(stem) = BIRTH_STEMS.iter().find(|s| joined.contains(**s)) {
        if has(PLACE_WORDS).is_none() {
            set(&mut h, Says::Birth, stem);
        }
        return h;
    }
    if words.iter().any(|w| w == "dob" || w == "born") {
        set(&mut h, Says::Birth, "dob");
        return h;
    }
    let postal_joined = POSTAL_WORDS
        .iter()
        .find(|w| w.len() >= 6 && joined.contains(**w))
        .map(|w| (*w).to_owned());
    if let Some(w) = has(POSTAL_WORDS)
        .or(postal_joined)
        .or_else(|| (joined == "cap").then(|| "cap".to_owned()))
    {
        set(&mut h, Says::Postal, &w);
        return h;
    }
    let id = has(ID_JOINED).or_else(|| {
        let owner = has(ID_OWNERS)?;
        has(ID_WORDS).map(|_| owner)
    });
    if let Some(w) = id {
        set(&mut h, Says::Id, &w);
        return h;
    }
    if let Some(stem) = ADDRESS_STEMS.iter().find(|s| joined.contains(**s)) {
        let other = [
            "ip", "email", "mail", "mac", "web", "url", "wallet", "memory", "btc",
        ];
        if !words.iter().any(|w| other.contains(&w.as_str()))
            && !["ipaddr", "emailaddr", "macaddr", "webaddr"]
                .iter()
                .any(|s| joined.contains(s))
        {
            set(&mut h, Says::Address, stem);
        }
        return h;
    }
    if h.veto {
        return h;
    }
    let only = |w: &str| words.len() == 1 && words.first().is_some_and(|x| x == w);
    let with_name = |w: &str| {
        words.len() == 2
            && words.first().is_some_and(|x| x == w)
            && words.get(1).is_some_and(|x| x == "name" || x == "nm")
    };
    let given_word = has(GIVEN_WORDS).or_else(|| has(&["first", "nombre", "nome", "ad"]));
    let family_word = has(FAMILY_WORDS).or_else(|| has(&["last", "nom"]));
    if let (Some(g), Some(_)) = (&given_word, &family_word) {
        // `imie_nazwisko`, `first_last`, `vorname_nachname`: both parts, a whole name.
        set(
            &mut h,
            Says::Name(Some(PiiKind::PersonName), Strength::Strong),
            g,
        );
    } else if let Some(w) = has(GIVEN_WORDS) {
        set(
            &mut h,
            Says::Name(Some(PiiKind::GivenName), Strength::Strong),
            &w,
        );
    } else if only("first") || with_name("first") {
        set(
            &mut h,
            Says::Name(Some(PiiKind::GivenName), Strength::Strong),
            "first",
        );
    } else if let Some(w) = has(FAMILY_WORDS) {
        set(
            &mut h,
            Says::Name(Some(PiiKind::FamilyName), Strength::Strong),
            &w,
        );
    } else if only("last") || with_name("last") || with_name("family") {
        set(
            &mut h,
            Says::Name(Some(PiiKind::FamilyName), Strength::Strong),
            "last",
        );
    } else if words.iter().any(|w| w == "nom") && words.iter().any(|w| w == "famille") {
        set(
            &mut h,
            Says::Name(Some(PiiKind::FamilyName), Strength::Strong),
            "nom",
        );
    } else if let Some(w) = FULL_WORDS.iter().find(|w| joined.contains(**w)) {
        set(
            &mut h,
            Says::Name(Some(PiiKind::PersonName), Strength::Strong),
            w,
        );
    } else if let Some(w) = has(&["nom", "nombre", "nome"]).filter(|_| words.len() == 1) {
        // Alone, French `nom` is the family name and Spanish `nombre`, Italian and
        // Portuguese `nome` the given name, unless the values hold whole names.
        let part = if w == "nom" {
            PiiKind::FamilyName
        } else {
            PiiKind::GivenName
        };
        set(&mut h, Says::Name(Some(part), Strength::Weak), &w);
    } else if let Some(w) = has(GENERIC_NAME) {
        let strength = if has(PERSON_WORDS).is_some() {
            Strength::Strong
        } else {
            Strength::Weak
        };
        set(&mut h, Says::Name(None, strength), &w);
    } else if let Some(w) = has(&["person", "patient", "defendant", "employee", "customer"]) {
        // `person`, `patient`: a column named after people, if its values are names.
        set(&mut h, Says::Name(None, Strength::Weak), &w);
    }
    h
}

/// Whether the header names a date of something other than a birth (`hire_date`,
/// `order_date`, `fecha`): then the values alone do not make it a date of birth.
pub(super) fn other_date(name: &str) -> bool {
    let words: Vec<String> = split_words(name)
        .iter()
        .map(|w| fold(w).unwrap_or_else(|| w.clone()))
        .collect();
    let joined: String = words.concat();
    if BIRTH_STEMS.iter().any(|s| joined.contains(s)) || words.iter().any(|w| w == "dob") {
        return false;
    }
    #[rustfmt::skip]
    const OTHER: &[&str] = &[
        "date", "datum", "fecha", "data", "dt", "time", "timestamp", "day", "hire", "hired",
        "start", "end", "created", "updated", "joined", "death", "died", "deceased",
        "admission", "admitted", "discharge", "visit", "order", "issue", "issued", "expiry",
        "expires", "opened", "closed", "due", "since", "until", "screening", "arrest",
        "offense", "founded", "established", "built", "release", "released", "published",
        "launch", "registration", "registered", "signup", "purchase", "sale", "transaction",
        "payment", "invoice", "event", "incident", "report", "recorded", "measured", "observed",
        "sample", "valid", "effective", "maturity", "year", "month", "period", "week",
    ];
    words.iter().any(|w| OTHER.contains(&w.as_str()))
}

/// What a column's name suggests about quasi-identifiers: a reason (`sex`, `age`) when
/// the name is one of the demographic attributes that, combined, single people out.
pub fn quasi_identifier_hint(name: &str) -> Option<&'static str> {
    let words: Vec<String> = split_words(name)
        .iter()
        .map(|w| fold(w).unwrap_or_else(|| w.clone()))
        .collect();
    let joined: String = words.concat();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    const TABLE: &[(&str, &[&str])] = &[
        (
            "sex",
            &[
                "sex",
                "gender",
                "geschlecht",
                "sexe",
                "sexo",
                "genere",
                "geslacht",
                "kon",
                "plec",
                "genre",
            ],
        ),
        (
            "age",
            &[
                "age", "ages", "edad", "alter", "eta", "leeftijd", "idade", "wiek", "agecat",
            ],
        ),
        (
            "race",
            &[
                "race",
                "ethnicity",
                "ethnic",
                "ethnie",
                "raza",
                "etnia",
                "rasse",
                "razza",
                "etnicidad",
            ],
        ),
        (
            "marital status",
            &[
                "marital",
                "maritalstatus",
                "civil",
                "familienstand",
                "etatcivil",
            ],
        ),
        (
            "nationality",
            &[
                "nationality",
                "nationalite",
                "nacionalidad",
                "citizenship",
                "native",
                "nationalitat",
                "nazionalita",
            ],
        ),
        (
            "occupation",
            &[
                "occupation",
                "job",
                "profession",
                "beruf",
                "profesion",
                "professione",
            ],
        ),
        (
            "education",
            &["education", "educacion", "bildung", "istruzione"],
        ),
        ("religion", &["religion", "religione", "religie"]),
    ];
    if BIRTH_STEMS.iter().any(|s| joined.contains(s)) || has(&["dob", "yob"]) {
        return Some(if has(PLACE_WORDS) {
            "place of birth"
        } else {
            "birth"
        });
    }
    if has(POSTAL_WORDS) {
        return Some("postal code");
    }
    TABLE
        .iter()
        .find(|(_, list)| has(list))
        .map(|(reason, _)| *reason)
}
